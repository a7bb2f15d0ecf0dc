"""Events of class groups (班级群组), on ``classgroups.classes.v1`` keyed by class id: classes, memberships,
announcements and leave requests, so that the rest of the platform and provincial systems can follow the classes
of their schools.

No event carries raw personal data: accounts are named by id (never a name or phone), an announcement by its id
(its text stays in the service), a leave request by kind and dates (its reason stays in the service).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict

from common.contracts.base import Event

CLASSES_TOPIC = "classgroups.classes.v1"

ClassKind = Literal["administrative", "online"]


class _ClassEvent(Event):
    TOPIC: ClassVar[str] = CLASSES_TOPIC

    class_id: str
    occurred_at: datetime

    def key(self) -> str:
        return self.class_id


class ClassCreated(_ClassEvent):
    TYPE: ClassVar[str] = "cn.smartedu.classgroups.class.created.v1"

    kind: ClassKind
    school: str | None
    """Org path of the school (administrative classes); None for an online class."""
    school_year: int | None
    """The calendar year the school year starts in (2026 = 2026–2027), administrative classes."""
    grade: int | None
    owner_id: str | None
    """The verified teacher who owns an online class."""
    created_by: str


class SubjectTeacher(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    teacher_id: str
    subject: str
    """Subject code (e.g. ``math``)."""


class TeachersAssigned(_ClassEvent):
    """The teachers of an administrative class after a change: head teacher (班主任) and subject teachers
    (科任老师) with their subjects."""

    TYPE: ClassVar[str] = "cn.smartedu.classgroups.teachers.assigned.v1"

    head_teacher_id: str | None
    subject_teachers: tuple[SubjectTeacher, ...]
    assigned_by: str


class OwnershipTransferred(_ClassEvent):
    TYPE: ClassVar[str] = "cn.smartedu.classgroups.ownership.transferred.v1"

    previous_owner_id: str
    owner_id: str


class MemberJoined(_ClassEvent):
    TYPE: ClassVar[str] = "cn.smartedu.classgroups.member.joined.v1"

    account_id: str
    via: Literal["roster", "code", "invitation", "approval"]
    by: str


class MemberRequested(_ClassEvent):
    """A student asked to join an online class that needs the teacher's approval."""

    TYPE: ClassVar[str] = "cn.smartedu.classgroups.member.requested.v1"

    account_id: str


class MemberInvited(_ClassEvent):
    TYPE: ClassVar[str] = "cn.smartedu.classgroups.member.invited.v1"

    account_id: str
    by: str


class MemberLeft(_ClassEvent):
    TYPE: ClassVar[str] = "cn.smartedu.classgroups.member.left.v1"

    account_id: str
    reason: Literal["left", "removed", "rejected", "declined"]
    by: str


class AnnouncementPosted(_ClassEvent):
    TYPE: ClassVar[str] = "cn.smartedu.classgroups.announcement.posted.v1"

    announcement_id: str
    author_id: str


class LeaveRequested(_ClassEvent):
    TYPE: ClassVar[str] = "cn.smartedu.classgroups.leave.requested.v1"

    leave_id: str
    student_id: str
    requested_by: str
    kind: Literal["sick", "personal", "other"]
    first_day: date
    last_day: date


class LeaveDecided(_ClassEvent):
    """A leave request's later steps: approved, rejected (by the head teacher or a delegate) or cancelled."""

    TYPE: ClassVar[str] = "cn.smartedu.classgroups.leave.decided.v1"

    leave_id: str
    student_id: str
    decision: Literal["approved", "rejected", "cancelled"]
    by: str


class EvaluationRecorded(_ClassEvent):
    """A teacher recorded points in one of the five dimensions of 综合素质评价 (the comment stays in the service)."""

    TYPE: ClassVar[str] = "cn.smartedu.classgroups.evaluation.recorded.v1"

    evaluation_id: str
    student_id: str
    teacher_id: str
    dimension: Literal["moral", "intellectual", "physical", "aesthetic", "labour"]
    points: int
    term: str
    """School term, ``<year>-1`` (September–January) or ``<year>-2`` (February–August)."""
