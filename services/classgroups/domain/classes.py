"""Classes (班级) and memberships: the rules, and the events each change raises.

Two kinds of class. An **administrative class** (行政班) belongs to a school (a node of identity's org tree) and a
school year; the school's admins create and roster it and name its head teacher (班主任) and subject teachers
(科任老师, each with a subject), all verified teachers of the school. A student is in at most one administrative
class of a school per school year (enforced by the store with a claim document). An **online class** (网络班) is
owned by a verified teacher; students join with a class code or an invitation, optionally approved by the owner;
members may leave; the owner may hand the class to another verified teacher.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Literal

from classgroups.domain.directory import Account
from common.contracts.classgroups import (
    ClassCreated,
    MemberInvited,
    MemberJoined,
    MemberLeft,
    MemberRequested,
    OwnershipTransferred,
    SubjectTeacher,
    TeachersAssigned,
)
from common.errors import Conflict, Forbidden, Invalid

ADMINISTRATIVE, ONLINE = "administrative", "online"
Kind = Literal["administrative", "online"]
Status = Literal["active", "pending", "invited", "left"]
SUBJECT = re.compile(r"^[a-z][a-z_]{1,31}$")
MAX_SUBJECT_TEACHERS = 30


def new_class_id() -> str:
    return f"cls-{uuid.uuid4().hex[:16]}"


@dataclass(frozen=True)
class ClassGroup:
    id: str
    kind: Kind
    name: str
    created_by: str
    created_at: datetime
    version: int = 1
    school: str | None = None
    school_year: int | None = None
    grade: int | None = None
    head_teacher: str | None = None
    subject_teachers: tuple[tuple[str, str], ...] = ()
    owner: str | None = None
    approval_required: bool = False
    leave_delegate: str | None = None
    """A subject teacher the head teacher named to decide leave requests too."""

    @property
    def administrative(self) -> bool:
        return self.kind == ADMINISTRATIVE

    def teachers(self) -> set[str]:
        """Everyone who teaches the class: the head teacher, the subject teachers, the owner."""
        out = {t for t, _ in self.subject_teachers}
        out |= {t for t in (self.head_teacher, self.owner) if t}
        return out


@dataclass(frozen=True)
class Membership:
    class_id: str
    account_id: str
    status: Status
    via: str
    since: datetime
    version: int = 1
    events: tuple[object, ...] = field(default=(), compare=False)


# --- administrative classes ----------------------------------------------------------------------------
def create_administrative(
    *, school: str, school_year: int, grade: int, name: str, by: str, at: datetime
) -> tuple[ClassGroup, list[object]]:
    cls = ClassGroup(new_class_id(), ADMINISTRATIVE, name, by, at, school=school, school_year=school_year, grade=grade)
    event = ClassCreated(
        class_id=cls.id,
        occurred_at=at,
        kind=ADMINISTRATIVE,
        school=school,
        school_year=school_year,
        grade=grade,
        owner_id=None,
        created_by=by,
    )
    return cls, [event]


def assign_teachers(
    cls: ClassGroup,
    *,
    head_teacher: str | None,
    subject_teachers: list[tuple[str, str]],
    accounts: dict[str, Account],
    by: str,
    at: datetime,
) -> tuple[ClassGroup, list[object]]:
    """Name the head teacher and the subject teachers: verified teachers of the class's school."""
    if not cls.administrative:
        raise Conflict("An online class has its owner, not a head teacher.", code="not_administrative")
    if len(subject_teachers) > MAX_SUBJECT_TEACHERS:
        raise Invalid("Too many subject teachers.", code="too_many", field="subject_teachers")
    for i, (teacher, subject) in enumerate(subject_teachers):
        if not SUBJECT.match(subject):
            raise Invalid("Unknown subject code.", code="bad_subject", field=f"subject_teachers.{i}.subject")
        _require_teacher(accounts.get(teacher), cls.school, f"subject_teachers.{i}.teacher_id")
    if len(set(subject_teachers)) != len(subject_teachers):
        raise Invalid("A teacher is named twice for one subject.", code="duplicate", field="subject_teachers")
    if head_teacher is not None:
        _require_teacher(accounts.get(head_teacher), cls.school, "head_teacher_id")
    updated = replace(cls, head_teacher=head_teacher, subject_teachers=tuple(subject_teachers), version=cls.version + 1)
    event = TeachersAssigned(
        class_id=cls.id,
        occurred_at=at,
        head_teacher_id=head_teacher,
        subject_teachers=tuple(SubjectTeacher(teacher_id=t, subject=s) for t, s in subject_teachers),
        assigned_by=by,
    )
    return updated, [event]


def delegate_leave(cls: ClassGroup, teacher: str | None) -> ClassGroup:
    """The head teacher names a subject teacher of the class to decide leave requests (None: nobody)."""
    if teacher is not None and teacher not in {t for t, _ in cls.subject_teachers}:
        raise Invalid("The delegate must be a subject teacher of the class.", code="not_a_teacher", field="teacher_id")
    return replace(cls, leave_delegate=teacher, version=cls.version + 1)


def _require_teacher(account: Account | None, school: str | None, field_name: str) -> None:
    if account is None or not account.is_verified_teacher(school):
        raise Invalid("Not a verified teacher of the class's school.", code="not_a_teacher", field=field_name)


def check_rosterable(cls: ClassGroup, account: Account | None) -> str | None:
    """Why ``account`` cannot be put on the class's roster (a bad row's reason), or None."""
    if account is None:
        return "unknown_account"
    if not account.active:
        return "deactivated"
    if account.kind not in (None, "student") or not account.is_student_of(cls.school or ""):
        return "not_a_student_of_the_school"
    return None


def rostered(cls: ClassGroup, student: str, by: str, at: datetime) -> Membership:
    event = MemberJoined(class_id=cls.id, occurred_at=at, account_id=student, via="roster", by=by)
    return Membership(cls.id, student, "active", "roster", at, events=(event,))


# --- online classes ------------------------------------------------------------------------------------
def create_online(
    *, name: str, owner: Account | None, approval_required: bool, at: datetime
) -> tuple[ClassGroup, list[object]]:
    if owner is None or not owner.is_verified_teacher():
        raise Forbidden("Only a verified teacher may create an online class.", code="not_verified_teacher")
    cls = ClassGroup(new_class_id(), ONLINE, name, owner.id, at, owner=owner.id, approval_required=approval_required)
    event = ClassCreated(
        class_id=cls.id,
        occurred_at=at,
        kind=ONLINE,
        school=None,
        school_year=None,
        grade=None,
        owner_id=owner.id,
        created_by=owner.id,
    )
    return cls, [event]


def transfer(cls: ClassGroup, to: Account | None, at: datetime) -> tuple[ClassGroup, list[object]]:
    if cls.administrative or cls.owner is None:
        raise Conflict("An administrative class belongs to its school.", code="not_online")
    if to is None or not to.is_verified_teacher():
        raise Invalid("The new owner must be a verified teacher.", code="not_verified_teacher", field="to")
    if to.id == cls.owner:
        raise Conflict("The class already belongs to this teacher.", code="same_owner")
    event = OwnershipTransferred(class_id=cls.id, occurred_at=at, previous_owner_id=cls.owner, owner_id=to.id)
    return replace(cls, owner=to.id, version=cls.version + 1), [event]


def join(cls: ClassGroup, student: Account | None, current: Membership | None, via: str, at: datetime) -> Membership:
    """A student joins an online class (code or invitation): active at once, or pending the owner's approval."""
    if cls.administrative:
        raise Conflict("Administrative classes are rostered by the school.", code="not_online")
    if student is None or student.kind != "student" or not student.active:
        raise Forbidden("Only students join classes.", code="not_a_student")
    if current is not None and current.status == "active":
        raise Conflict("Already a member of this class.", code="already_member")
    if current is not None and current.status == "pending":
        raise Conflict("The request waits for the teacher's approval.", code="already_requested")
    if cls.approval_required and via != "invitation":
        event: object = MemberRequested(class_id=cls.id, occurred_at=at, account_id=student.id)
        return _next(current, cls.id, student.id, "pending", via, at, event)
    event = MemberJoined(class_id=cls.id, occurred_at=at, account_id=student.id, via=via, by=student.id)
    return _next(current, cls.id, student.id, "active", via, at, event)


def invite(cls: ClassGroup, student: Account | None, current: Membership | None, by: str, at: datetime) -> Membership:
    if cls.administrative:
        raise Conflict("Administrative classes are rostered by the school.", code="not_online")
    if student is None or student.kind != "student" or not student.active:
        raise Invalid("Only students can be invited.", code="not_a_student", field="account_id")
    if current is not None and current.status in ("active", "invited"):
        raise Conflict("Already a member or invited.", code="already_member")
    event = MemberInvited(class_id=cls.id, occurred_at=at, account_id=student.id, by=by)
    return _next(current, cls.id, student.id, "invited", "invitation", at, event)


def decide(cls: ClassGroup, current: Membership | None, approve: bool, by: str, at: datetime) -> Membership:
    if current is None or current.status != "pending":
        raise Conflict("No request to join waits for a decision.", code="not_pending")
    if approve:
        event: object = MemberJoined(
            class_id=cls.id, occurred_at=at, account_id=current.account_id, via="approval", by=by
        )
        return _next(current, cls.id, current.account_id, "active", "approval", at, event)
    event = MemberLeft(class_id=cls.id, occurred_at=at, account_id=current.account_id, reason="rejected", by=by)
    return _next(current, cls.id, current.account_id, "left", current.via, at, event)


def answer_invitation(cls: ClassGroup, current: Membership | None, accept: bool, at: datetime) -> Membership:
    if current is None or current.status != "invited":
        raise Conflict("No invitation waits for an answer.", code="not_invited")
    who = current.account_id
    if accept:
        event: object = MemberJoined(class_id=cls.id, occurred_at=at, account_id=who, via="invitation", by=who)
        return _next(current, cls.id, who, "active", "invitation", at, event)
    event = MemberLeft(class_id=cls.id, occurred_at=at, account_id=who, reason="declined", by=who)
    return _next(current, cls.id, who, "left", "invitation", at, event)


def leave(cls: ClassGroup, current: Membership | None, by: str, at: datetime) -> Membership:
    """The member leaves (online classes), or is removed (by the owner, or a school admin)."""
    if current is None or current.status != "active":
        raise Conflict("Not a member of this class.", code="not_member")
    if cls.administrative and by == current.account_id:
        raise Forbidden("A student leaves an administrative class through the school.", code="administrative")
    reason = "left" if by == current.account_id else "removed"
    event = MemberLeft(class_id=cls.id, occurred_at=at, account_id=current.account_id, reason=reason, by=by)
    return _next(current, cls.id, current.account_id, "left", current.via, at, event)


def deactivated(cls: ClassGroup, current: Membership, by: str, at: datetime) -> Membership | None:
    """Identity deactivated the account (there is no reactivation): its membership, invitation or request ends,
    ``removed`` by whoever deactivated it; None when nothing is open."""
    if current.status not in ("active", "pending", "invited"):
        return None
    event = MemberLeft(class_id=cls.id, occurred_at=at, account_id=current.account_id, reason="removed", by=by)
    return _next(current, cls.id, current.account_id, "left", current.via, at, event)


def _next(
    current: Membership | None, class_id: str, who: str, status: Status, via: str, at: datetime, event: object
) -> Membership:
    version = current.version + 1 if current is not None else 1
    return Membership(class_id, who, status, via, at, version, (event,))
