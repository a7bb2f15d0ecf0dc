"""Subscriber systems, their replays, and the feed router's memory of where classes and courses are.

subscribers  ``sub:<subscriber id>``        the registration; the HMAC key sealed by the PII vault, the HTTP
                                            password as a SHA-256 digest (the broker keeps its own SCRAM hash)
replays      ``replay:<subscriber>:<id>``   a replay asked for, its window, state and progress (one writer: the
                                            router that claimed it)
replayclaims ``claim:<replay id>``          the insert that makes one router replica run a replay
feedplaces   ``class:<id>`` / ``course:<id>``  → province code, learned from ClassCreated / CoursePublished
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from identity.domain.subscribers import ReplayState, ReplayWindow, Subscriber
from identity.store.base import Collections, aware


class SubscriberStore(Collections):
    # --- registrations ------------------------------------------------------------------------------------
    async def create(self, s: Subscriber, *, sealed_key: str, password_digest: str) -> bool:
        return await self._insert(
            "subscribers",
            {"_id": f"sub:{s.id}", **s.terms(), "key": sealed_key, "password": password_digest},
        )

    async def get(self, subscriber_id: str) -> tuple[dict[str, Any], str] | None:
        """The document and its sealed key (the handler opens it)."""
        doc = await self._get("subscribers", f"sub:{subscriber_id}")
        return (doc, doc["key"]) if doc else None

    async def all(self) -> list[dict[str, Any]]:
        return [d async for d in self.db["subscribers"].find({})]

    async def set_active(self, subscriber_id: str, active: bool) -> bool:
        r = await self.db["subscribers"].update_one({"_id": f"sub:{subscriber_id}"}, {"$set": {"active": active}})
        return r.matched_count == 1

    @staticmethod
    def subscriber_of(doc: dict[str, Any], key: bytes) -> Subscriber:
        return Subscriber(
            id=doc["_id"].removeprefix("sub:"),
            name=doc["name"],
            kind=doc["kind"],
            event_types=tuple(doc["event_types"]),
            provinces=tuple(doc["provinces"]),
            pseudonymise=doc["pseudonymise"],
            exclude_fields=tuple(doc.get("exclude_fields", ())),
            active=doc["active"],
            registered_at=aware(doc.get("registered_at")),
            key=key,
        )

    # --- replays ------------------------------------------------------------------------------------------
    async def add_replay(self, subscriber_id: str, replay_id: str, w: ReplayWindow, asked_by: str) -> dict[str, Any]:
        doc = {
            "_id": f"replay:{subscriber_id}:{replay_id}",
            "subscriber": subscriber_id,
            "event_types": list(w.event_types),
            "province": w.province,
            "since": w.since,
            "until": w.until,
            "max_records": w.max_records,
            "state": "pending",
            "scanned": 0,
            "routed": 0,
            "truncated": False,
            "asked_by": asked_by,
            "asked_at": datetime.now(UTC),
        }
        await self._insert("replays", doc)
        return doc

    async def replay(self, subscriber_id: str, replay_id: str) -> dict[str, Any] | None:
        return await self._get("replays", f"replay:{subscriber_id}:{replay_id}")

    async def pending_replays(self) -> list[dict[str, Any]]:
        return [d async for d in self.db["replays"].find({"state": "pending"}).sort("asked_at", 1)]

    async def claim_replay(self, replay_doc_id: str, worker: str) -> bool:
        return await self._insert("replayclaims", {"_id": f"claim:{replay_doc_id}", "by": worker})

    async def progress(self, replay_doc_id: str, state: ReplayState, **fields: Any) -> None:
        # one writer per replay (the claim's holder): a plain $set
        await self.db["replays"].update_one(
            {"_id": replay_doc_id}, {"$set": {"state": state, "updated_at": datetime.now(UTC), **fields}}
        )

    # --- where classes and courses are -------------------------------------------------------------------
    async def remember_place(self, place: str, province: str) -> None:
        await self._insert("feedplaces", {"_id": place, "p": province})

    async def place(self, place: str) -> str | None:
        doc = await self._get("feedplaces", place)
        return doc["p"] if doc else None
