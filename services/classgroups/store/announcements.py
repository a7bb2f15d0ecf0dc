"""Announcements (``announcements``) and their read receipts (``reads``: insert = read, idempotent)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from classgroups.domain.announcements import Announcement, Read
from classgroups.store.base import Collections
from common.contracts import Event
from common.store import insert_new


class AnnouncementStore(Collections):
    async def post_announcement(self, a: Announcement, events: list[Event]) -> None:
        doc = {"_id": a.id, "class_id": a.class_id, "author": a.author, "title": a.title, "body": a.body}
        await self.insert_announced("announcements", [{**doc, "at": a.posted_at}], {a.id: events})

    async def announcements(self, class_id: str) -> list[Announcement]:
        cursor = self.db["announcements"].find({"class_id": class_id}, {"outbox": 0}).sort("at", -1)
        return [_announcement(d) async for d in cursor]

    async def announcement(self, announcement_id: str) -> Announcement | None:
        doc = await self.db["announcements"].find_one({"_id": announcement_id}, {"outbox": 0})
        return _announcement(doc) if doc else None

    async def mark_read(self, read: Read) -> bool:
        """Record a reading; False when the reader had read it already (the first reading stays)."""
        doc = {"_id": f"{read.announcement_id}:{read.reader}", "ann": read.announcement_id, "reader": read.reader}
        return not await insert_new(self.db["reads"], [{**doc, "students": list(read.students), "at": read.at}])

    async def reads(self, announcement_ids: Iterable[str]) -> list[Read]:
        cursor = self.db["reads"].find({"ann": {"$in": list(announcement_ids)}})
        return [Read(d["ann"], d["reader"], tuple(d["students"]), d["at"]) async for d in cursor]


def _announcement(d: dict[str, Any]) -> Announcement:
    return Announcement(d["_id"], d["class_id"], d["author"], d["title"], d["body"], d["at"])
