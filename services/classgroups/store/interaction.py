"""Classroom interaction: roll calls (``calls``: the insert is the call), quick polls (``polls``) and their
ballots (``votes``, one per voter)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from classgroups.domain.interaction import Poll
from classgroups.store.base import Collections
from common.contracts import Event
from common.store import insert_new


class InteractionStore(Collections):
    async def calls(self, class_id: str) -> list[tuple[int, str]]:
        return [(d["round"], d["student"]) async for d in self.db["calls"].find({"class_id": class_id})]

    async def call(self, class_id: str, round_: int, student: str, by: str, at: datetime, event: Event) -> bool:
        """Claim the call of ``student`` in ``round_`` (its event inside the claim: published only by the one
        insert that won); False when someone called them in this round already."""
        doc = {"_id": f"{class_id}:{round_}:{student}", "class_id": class_id, "round": round_, "student": student}
        return await self.insert_one("calls", {**doc, "by": by, "at": at}, [event])

    async def add_poll(self, poll: Poll, events: list[Event]) -> None:
        await self.insert_one("polls", _poll_doc(poll), events)

    async def poll(self, poll_id: str) -> Poll | None:
        doc = await self.db["polls"].find_one({"_id": poll_id}, {"outbox": 0})
        return _poll(doc) if doc else None

    async def save_poll(self, before: Poll, after: Poll, events: list[Event]) -> None:
        await self.update_announced("polls", after.id, before.version, {"open": after.open}, events)

    async def vote(self, poll: Poll, voter: str, choices: list[int], at: datetime) -> bool:
        """One ballot per voter (a unique insert); False when the voter had voted."""
        doc = {"_id": f"{poll.id}:{voter}", "poll": poll.id, "voter": voter, "choices": choices, "at": at}
        return not await insert_new(self.db["votes"], [doc])

    async def votes(self, poll_id: str) -> list[tuple[str, list[int]]]:
        cursor = self.db["votes"].find({"poll": poll_id}).sort("at", 1)
        return [(d["voter"], d["choices"]) async for d in cursor]


def _poll_doc(p: Poll) -> dict[str, Any]:
    return {
        "_id": p.id,
        "class_id": p.class_id,
        "author": p.author,
        "question": p.question,
        "options": list(p.options),
        "multiple": p.multiple,
        "anonymous": p.anonymous,
        "open": p.open,
        "at": p.at,
        "salt": p.salt,
        "v": p.version,
    }


def _poll(d: dict[str, Any]) -> Poll:
    return Poll(
        d["_id"],
        d["class_id"],
        d["author"],
        d["question"],
        tuple(d["options"]),
        d["multiple"],
        d["anonymous"],
        d["open"],
        d["at"],
        d["salt"],
        d["v"],
    )
