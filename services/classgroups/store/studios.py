"""Famous-teacher studios: ``studios`` (outbox source), ``studio_members`` (``<studio>:<account>``, outbox
source), ``studio_resources`` (``<studio>:<resource>``, unique inserts), ``studio_activities`` (``act-…``,
insert only, outbox source) and ``catalog`` (the catalog's published resources as its feed says, keyed by
resource id, written only by the consumer of the resource's partition)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from classgroups.domain.studios import Activity, Material, Studio, StudioMember
from classgroups.store.base import Collections, Stale
from common.contracts import Event
from common.store import insert_new

OUTBOX_SOURCES = ("studios", "studio_members", "studio_activities")


class StudioStore(Collections):
    async def create_studio(self, studio: Studio, events: list[Event]) -> None:
        await self.insert_announced("studios", [_studio_doc(studio)], {studio.id: events})

    async def studio(self, studio_id: str) -> Studio | None:
        doc = await self.db["studios"].find_one({"_id": studio_id}, {"outbox": 0})
        return _studio(doc) if doc else None

    async def studios(self, *, area: str | None = None, after: str | None, limit: int) -> list[Studio]:
        """Studios in id order after ``after``; ``area``: only those whose area lies in that subtree (each studio
        keeps the ancestors of its area, so the subtree is one equality match)."""
        query: dict[str, Any] = {}
        if area is not None:
            query["areas"] = area
        if after is not None:
            query["_id"] = {"$gt": after}
        cursor = self.db["studios"].find(query, {"outbox": 0}).sort("_id", 1).limit(limit)
        return [_studio(d) async for d in cursor]

    async def led_by(self, account_id: str) -> list[Studio]:
        return [_studio(d) async for d in self.db["studios"].find({"leader": account_id}, {"outbox": 0})]

    # --- members ------------------------------------------------------------------------------------------
    async def member(self, studio_id: str, account_id: str) -> StudioMember | None:
        doc = await self.db["studio_members"].find_one({"_id": f"{studio_id}:{account_id}"}, {"outbox": 0})
        return _member(doc) if doc else None

    async def members(self, studio_id: str, status: str | None = None) -> list[StudioMember]:
        query: dict[str, Any] = {"studio_id": studio_id}
        if status:
            query["status"] = status
        return [_member(d) async for d in self.db["studio_members"].find(query, {"outbox": 0}).sort("_id", 1)]

    async def member_counts(self, studio_ids: Iterable[str]) -> dict[str, int]:
        ids = list(studio_ids)
        counts = dict.fromkeys(ids, 0)
        query = {"studio_id": {"$in": ids}, "status": "active"}
        async for d in self.db["studio_members"].find(query, {"studio_id": 1}):
            counts[d["studio_id"]] += 1
        return counts

    async def memberships_of(self, account_id: str) -> list[StudioMember]:
        query = {"account_id": account_id, "status": {"$in": ["active", "pending"]}}
        return [_member(d) async for d in self.db["studio_members"].find(query, {"outbox": 0})]

    async def save_member(self, before: StudioMember | None, after: StudioMember) -> None:
        """The membership's next state (:class:`Stale` if another writer was first)."""
        doc = _member_doc(after)
        if before is None:
            if await self.insert_announced("studio_members", [doc], {doc["_id"]: list(after.events)}):
                raise Stale(doc["_id"])
            return
        fields = {k: doc[k] for k in ("status", "since")}
        await self.update_announced("studio_members", doc["_id"], before.version, fields, list(after.events))

    # --- shared resources -------------------------------------------------------------------------------
    async def share(self, studio_id: str, resource_id: str, by: str, at: datetime) -> bool:
        """False when the resource was shared already (idempotent)."""
        doc = {"_id": f"{studio_id}:{resource_id}", "studio_id": studio_id, "resource": resource_id, "by": by, "at": at}
        return not await insert_new(self.db["studio_resources"], [doc])

    async def shared(self, studio_id: str, limit: int) -> list[dict[str, Any]]:
        """Shared resources still published in the catalog, newest first (a withdrawn one drops out)."""
        docs = [d async for d in self.db["studio_resources"].find({"studio_id": studio_id}).sort("at", -1)]
        published = await self.published([d["resource"] for d in docs])
        return [
            {"resource_id": d["resource"], "title": published[d["resource"]], "shared_at": d["at"]}
            for d in docs
            if d["resource"] in published
        ][:limit]

    # --- activities ---------------------------------------------------------------------------------------
    async def add_activity(self, activity: Activity, events: list[Event]) -> None:
        await self.insert_announced("studio_activities", [_activity_doc(activity)], {activity.id: events})

    async def activities(self, studio_id: str, limit: int) -> list[Activity]:
        cursor = self.db["studio_activities"].find({"studio_id": studio_id}, {"outbox": 0}).sort("starts_at", 1)
        return [_activity(d) async for d in cursor.limit(limit)]

    # --- the catalog as its feed says -------------------------------------------------------------------
    async def catalog_cursor(self, resource_id: str) -> str | None:
        doc = await self.db["catalog"].find_one({"_id": resource_id}, {"cursor": 1})
        return doc["cursor"] if doc else None

    async def put_catalog(self, resource_id: str, *, published: bool, title: str | None, cursor: str) -> None:
        # One writer per resource: the consumer of the catalog partition its id is keyed to.
        doc = {"_id": resource_id, "published": published, "title": title, "cursor": cursor}
        await self.db["catalog"].replace_one({"_id": resource_id}, doc, upsert=True)

    async def published(self, resource_ids: Iterable[str]) -> dict[str, str | None]:
        """Of ``resource_ids``, those the catalog holds as published, with their titles."""
        ids = list(dict.fromkeys(resource_ids))
        if not ids:
            return {}
        query = {"_id": {"$in": ids}, "published": True}
        return {d["_id"]: d.get("title") async for d in self.db["catalog"].find(query, {"title": 1})}


# --- document mapping -------------------------------------------------------------------------------------
def _areas(area: str) -> list[str]:
    parts = area.split("/")
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


def _studio_doc(s: Studio) -> dict[str, Any]:
    return {
        "_id": s.id,
        "name": s.name,
        "intro": s.intro,
        "subject": s.subject,
        "leader": s.leader,
        "area": s.area,
        "areas": _areas(s.area),
        "at": s.created_at,
        "v": s.version,
    }


def _studio(d: dict[str, Any]) -> Studio:
    return Studio(d["_id"], d["name"], d["intro"], d.get("subject"), d["leader"], d["area"], d["at"], d["v"])


def _member_doc(m: StudioMember) -> dict[str, Any]:
    return {
        "_id": f"{m.studio_id}:{m.account_id}",
        "studio_id": m.studio_id,
        "account_id": m.account_id,
        "status": m.status,
        "since": m.since,
        "v": m.version,
    }


def _member(d: dict[str, Any]) -> StudioMember:
    return StudioMember(d["studio_id"], d["account_id"], d["status"], d["since"], d["v"])


def _activity_doc(a: Activity) -> dict[str, Any]:
    return {
        "_id": a.id,
        "studio_id": a.studio_id,
        "title": a.title,
        "agenda": a.agenda,
        "place": a.place,
        "starts_at": a.starts_at,
        "ends_at": a.ends_at,
        "materials": [
            {"kind": m.kind, "ref": m.ref, "content_type": m.content_type, "size": m.size} for m in a.materials
        ],
        "by": a.scheduled_by,
        "at": a.created_at,
    }


def _activity(d: dict[str, Any]) -> Activity:
    materials = tuple(Material(m["kind"], m["ref"], m.get("content_type"), m.get("size")) for m in d["materials"])
    return Activity(
        d["_id"],
        d["studio_id"],
        d["title"],
        d["agenda"],
        d["place"],
        d["starts_at"],
        d["ends_at"],
        materials,
        d["by"],
        d["at"],
    )
