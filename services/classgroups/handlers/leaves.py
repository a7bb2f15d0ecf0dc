"""Handlers of leave requests (请假), administrative classes only (see :mod:`classgroups.domain.leaves`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from classgroups import access as rel
from classgroups.access import Caller, ClassAccess
from classgroups.domain import classes as class_rules
from classgroups.domain import leaves as domain
from classgroups.domain.classes import ClassGroup
from classgroups.domain.leaves import LeaveRequest
from classgroups.handlers import fresh, now
from classgroups.handlers.files import Files
from classgroups.store import ClassGroupsStore
from common.errors import Forbidden, NotFound

APPROVERS = frozenset({rel.HEAD, rel.DELEGATE})
ATTACHMENT_KINDS = ("photo", "document")  # a photo of a doctor's note, or a PDF


@dataclass(frozen=True)
class AttachmentIn:
    key: str
    content_type: str


class Leaves:
    def __init__(self, store: ClassGroupsStore, access: ClassAccess, files: Files) -> None:
        self.store, self.access, self.files = store, access, files

    async def presign(
        self, caller: Caller, class_id: str, student: str, content_type: str, size: int
    ) -> dict[str, Any]:
        """A presigned upload for an attachment of the student's leave (by the student or a guardian)."""
        await self._family(caller, class_id, student)
        prefix = domain.attachment_prefix(class_id, student)
        return self.files.presign(prefix, content_type, size, ATTACHMENT_KINDS)

    def attachment_url(self, key: str) -> str:
        return self.files.view_url(key)

    async def _family(self, caller: Caller, class_id: str, student: str) -> None:
        standing = await self.access.require_administrative(caller, class_id, {rel.MEMBER, rel.GUARDIAN})
        if student != caller.id and not await self.store.directory.is_guardian(caller.id, student):
            raise Forbidden("Only the student or a guardian asks for the student's leave.", code="not_guardian")
        await self.access.require_on_roster(standing.cls.id, student)

    async def submit(
        self,
        caller: Caller,
        class_id: str,
        *,
        student: str,
        kind: domain.Kind,
        first_day: date,
        last_day: date,
        periods: list[int],
        reason: str,
        attachment: AttachmentIn | None,
    ) -> LeaveRequest:
        """By the student, or a guardian of the student; the student must be on the class's roster. An attachment
        is read back from the object store: it must exist and be the photo or PDF it claims to be."""
        await self._family(caller, class_id, student)
        if attachment is not None:
            domain.check_attachment_key(class_id, student, attachment.key)
            await self.files.verify(attachment.key, attachment.content_type, ATTACHMENT_KINDS, "attachment")
        leave, events = domain.request(
            class_id=class_id,
            student=student,
            by=caller.id,
            kind=kind,
            first_day=first_day,
            last_day=last_day,
            periods=periods,
            reason=reason,
            attachment=attachment.key if attachment else None,
            at=now(),
        )
        await self.store.leaves.add_leave(leave, events)  # type: ignore[arg-type]
        return leave

    async def decide(
        self, caller: Caller, class_id: str, leave_id: str, approve: bool, note: str | None
    ) -> LeaveRequest:
        await self.access.require_administrative(caller, class_id, APPROVERS)
        leave = await self._of_class(class_id, leave_id)
        after, events = domain.decide(leave, approve, caller.id, note, now())
        return await self._save(leave, after, events)

    async def cancel(self, caller: Caller, class_id: str, leave_id: str) -> LeaveRequest:
        """By whoever asked, the student, or a guardian of the student, until the leave starts."""
        await self.access.require_administrative(caller, class_id, {rel.MEMBER, rel.GUARDIAN})
        leave = await self._of_class(class_id, leave_id)
        mine = caller.id in (leave.requested_by, leave.student)
        if not mine and not await self.store.directory.is_guardian(caller.id, leave.student):
            raise NotFound("No such leave request among yours.", code="leave_not_found")
        after, events = domain.cancel(leave, caller.id, now())
        return await self._save(leave, after, events)

    async def of_class(self, caller: Caller, class_id: str, status: str | None) -> list[LeaveRequest]:
        await self.access.require_administrative(caller, class_id, APPROVERS | {rel.ADMIN})
        return await self.store.leaves.leaves(class_id=class_id, status=status)

    async def away_today(self, caller: Caller, class_id: str) -> tuple[date, list[LeaveRequest]]:
        """Approved leaves covering today (Beijing time): what a subject teacher needs at roll call."""
        await self.access.require_administrative(caller, class_id, {rel.TEACHER, rel.ADMIN})
        today = domain.beijing_today(now())
        return today, await self.store.leaves.leaves(class_id=class_id, on=today, status="approved")

    async def of_student(self, caller: Caller, student: str) -> list[LeaveRequest]:
        await self.access.require_student_view(caller, student)
        return await self.store.leaves.leaves(student=student)

    async def delegate(self, caller: Caller, class_id: str, teacher: str | None) -> ClassGroup:
        standing = await self.access.require_administrative(caller, class_id, {rel.HEAD})
        after = class_rules.delegate_leave(standing.cls, teacher)
        with fresh("class"):
            await self.store.classes.save_class(standing.cls, after, [])
        return after

    async def _of_class(self, class_id: str, leave_id: str) -> LeaveRequest:
        leave = await self.store.leaves.leave(leave_id)
        if leave is None or leave.class_id != class_id:
            raise NotFound("No such leave request in this class.", code="leave_not_found")
        return leave

    async def _save(self, before: LeaveRequest, after: LeaveRequest, events: list[object]) -> LeaveRequest:
        with fresh("leave request"):
            await self.store.leaves.save_leave(before, after, events)  # type: ignore[arg-type]
        return after
