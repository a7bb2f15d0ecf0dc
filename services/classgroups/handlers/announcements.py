"""Handlers of class announcements (班级通知) and read receipts."""

from __future__ import annotations

from typing import Any

from classgroups import access as rel
from classgroups.access import Caller, ClassAccess, Standing
from classgroups.domain import announcements as domain
from classgroups.domain.announcements import Announcement, Read
from classgroups.handlers import now
from classgroups.store import ClassGroupsStore
from common.errors import NotFound


class Announcements:
    def __init__(self, store: ClassGroupsStore, access: ClassAccess) -> None:
        self.store, self.access = store, access

    async def post(self, caller: Caller, class_id: str, title: str, body: str) -> Announcement:
        await self.access.require(caller, class_id, {rel.TEACHER})
        announcement, events = domain.post(class_id, caller.id, title, body, now())
        await self.store.announcements.post_announcement(announcement, events)  # type: ignore[arg-type]
        return announcement

    async def of_class(self, caller: Caller, class_id: str) -> list[tuple[Announcement, bool]]:
        """The class's announcements, newest first, each with whether the caller has read it."""
        await self.access.require(caller, class_id, rel.ANYONE_IN)
        found = await self.store.announcements.announcements(class_id)
        mine = {
            r.announcement_id
            for r in await self.store.announcements.reads(a.id for a in found)
            if r.reader == caller.id
        }
        return [(a, a.id in mine) for a in found]

    async def read(self, caller: Caller, class_id: str, announcement_id: str) -> bool:
        """The caller (a student of the class, or a guardian of students of it) has read the announcement."""
        standing = await self.access.require(caller, class_id, {rel.MEMBER, rel.GUARDIAN})
        await self._of_class(class_id, announcement_id)
        students = await self._counts_for(caller, standing)
        return await self.store.announcements.mark_read(Read(announcement_id, caller.id, students, now()))

    async def receipts(self, caller: Caller, class_id: str, announcement_id: str) -> dict[str, Any]:
        await self.access.require(caller, class_id, {rel.TEACHER, rel.ADMIN})
        await self._of_class(class_id, announcement_id)
        audience = [m.account_id for m in await self.store.classes.members(class_id)]
        return domain.receipts(audience, await self.store.announcements.reads([announcement_id]))

    async def _of_class(self, class_id: str, announcement_id: str) -> Announcement:
        found = await self.store.announcements.announcement(announcement_id)
        if found is None or found.class_id != class_id:
            raise NotFound("No such announcement in this class.", code="announcement_not_found")
        return found

    async def _counts_for(self, caller: Caller, standing: Standing) -> tuple[str, ...]:
        if rel.MEMBER in standing.relations:
            return (caller.id,)
        children = await self.store.directory.children_of(caller.id)
        members = {m.account_id for m in await self.store.classes.members(standing.cls.id)}
        return tuple(c for c in children if c in members)
