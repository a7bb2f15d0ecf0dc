"""Events of class groups (班级群组), on ``classgroups.classes.v1`` keyed by class id: classes, memberships,
announcements and leave requests, so that the rest of the platform and provincial systems can follow the classes
of their schools.

No event carries raw personal data: accounts are named by id (never a name or phone), an announcement by its id
(its text stays in the service), a leave request by kind and dates (its reason stays in the service).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from common.contracts.base import Event
from common.topics import (
    CLASSGROUPS_CHECKINS,
    CLASSGROUPS_CLASSES,
    CLASSGROUPS_COURSE_REQUESTS,
    CLASSGROUPS_COURSES,
    CLASSGROUPS_STUDIOS,
)

CLASSES_TOPIC = CLASSGROUPS_CLASSES

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


class RollCalled(_ClassEvent):
    """Roll call (随机点名) picked a student present in class (no repeat within a round)."""

    TYPE: ClassVar[str] = "cn.smartedu.classgroups.roll.called.v1"

    round: int
    student_id: str
    by: str


class PollOpened(_ClassEvent):
    """A quick poll (投票) opened in class: its shape, not its question or options' text."""

    TYPE: ClassVar[str] = "cn.smartedu.classgroups.poll.opened.v1"

    poll_id: str
    options: int
    multiple: bool
    anonymous: bool
    by: str


class PollClosed(_ClassEvent):
    """A quick poll closed: the final counts per option (in option order) and how many voted; never who."""

    TYPE: ClassVar[str] = "cn.smartedu.classgroups.poll.closed.v1"

    poll_id: str
    votes: list[int]
    voters: int
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


# --- check-ins (打卡) and labour stars (劳动之星) ----------------------------------------------------------------
# Keyed by class id: one class's check-in events stay in order. No text of a submission or a comment travels
# (children write their names into them); media are object keys, never (signed) URLs.

CHECKINS_TOPIC = CLASSGROUPS_CHECKINS


class CheckinMedia(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    key: str = Field(description="Object key in the class groups media bucket (no URL, no signature).")
    kind: Literal["photo", "video"]
    content_type: str
    size: int


class CheckinTaskCreated(Event):
    """A teacher set a check-in task for a class."""

    TYPE: ClassVar[str] = "cn.smartedu.classgroups.checkin-task.created.v1"
    TOPIC: ClassVar[str] = CHECKINS_TOPIC

    task_id: str
    class_id: str
    teacher_id: str
    schedule: Literal["daily", "weekdays", "dates"]
    starts_on: date
    ends_on: date
    labour: bool = Field(description="Counts toward labour stars (劳动教育).")
    resource_id: str | None = Field(None, description="Catalog resource the task links to.")
    created_at: datetime

    def key(self) -> str:
        return self.class_id


class CheckinSubmitted(Event):
    """A student (or their parent) checked in for a day of a task; ``version`` > 1 answers a redo."""

    TYPE: ClassVar[str] = "cn.smartedu.classgroups.checkin.submitted.v1"
    TOPIC: ClassVar[str] = CHECKINS_TOPIC

    submission_id: str
    task_id: str
    class_id: str
    student_id: str
    submitted_by: str = Field(description="The student, or the guardian who submitted for them.")
    day: date = Field(description="The Beijing calendar day checked in for.")
    version: int
    timeliness: Literal["on_time", "late"]
    media: list[CheckinMedia]
    submitted_at: datetime

    def key(self) -> str:
        return self.class_id


class CheckinReviewed(Event):
    """A teacher reviewed a submission: a comment, a like, excellent (优秀) or a redo request."""

    TYPE: ClassVar[str] = "cn.smartedu.classgroups.checkin.reviewed.v1"
    TOPIC: ClassVar[str] = CHECKINS_TOPIC

    submission_id: str
    task_id: str
    class_id: str
    student_id: str
    reviewer_id: str
    action: Literal["comment", "like", "excellent", "redo"]
    reviewed_at: datetime

    def key(self) -> str:
        return self.class_id


class LabourStar(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    student_id: str
    points: int


class LabourStarsAwarded(Event):
    """The labour stars (劳动之星) of a class for a week (``2026-W45``) or a month (``2026-11``), awarded once."""

    TYPE: ClassVar[str] = "cn.smartedu.classgroups.labour-stars.awarded.v1"
    TOPIC: ClassVar[str] = CHECKINS_TOPIC

    class_id: str
    period: str
    period_kind: Literal["week", "month"]
    stars: list[LabourStar]
    awarded_at: datetime

    def key(self) -> str:
        return self.class_id


# --- after-school courses (课后服务·选课) ---------------------------------------------------------------------
# Requests go to their own topic keyed by course id: its partition order is the arrival order the course's single
# writer applies (classgroups.domain.courses). Outcomes are events on the courses topic, keyed by course id.

COURSE_REQUESTS_TOPIC = CLASSGROUPS_COURSE_REQUESTS
COURSES_TOPIC = CLASSGROUPS_COURSES


class CourseSelectionRequested(Event):
    """A student (or their guardian) asked for a place in a course, or to give theirs up (``drop``)."""

    TYPE: ClassVar[str] = "cn.smartedu.classgroups.course-selection.requested.v1"
    TOPIC: ClassVar[str] = COURSE_REQUESTS_TOPIC

    request_id: str
    course_id: str
    student_id: str
    requested_by: str
    kind: Literal["select", "drop"]
    requested_at: datetime

    def key(self) -> str:
        return self.course_id


class CoursePublished(Event):
    """A school admin published an after-school course for a term."""

    TYPE: ClassVar[str] = "cn.smartedu.classgroups.course.published.v1"
    TOPIC: ClassVar[str] = COURSES_TOPIC

    course_id: str
    school_id: str
    term: str
    capacity: int
    grades: list[int]
    opens_at: datetime
    closes_at: datetime
    published_by: str
    published_at: datetime

    def key(self) -> str:
        return self.course_id


class CourseSelected(Event):
    """A request for a course was decided: a seat, a waitlist place, or refused (``reason``)."""

    TYPE: ClassVar[str] = "cn.smartedu.classgroups.course.selected.v1"
    TOPIC: ClassVar[str] = COURSES_TOPIC

    request_id: str
    course_id: str
    student_id: str
    outcome: Literal["seated", "waitlisted", "refused"]
    reason: str | None = None
    decided_at: datetime

    def key(self) -> str:
        return self.course_id


class CourseDropped(Event):
    """A student gave up their place; ``promoted`` took the freed seat from the waitlist."""

    TYPE: ClassVar[str] = "cn.smartedu.classgroups.course.dropped.v1"
    TOPIC: ClassVar[str] = COURSES_TOPIC

    request_id: str
    course_id: str
    student_id: str
    promoted: str | None = None
    decided_at: datetime

    def key(self) -> str:
        return self.course_id


# --- famous-teacher studios (名师工作室) -------------------------------------------------------------------------
# On their own topic keyed by studio id. Teachers are named by account id only; an activity by its title-free
# schedule (its agenda and materials stay in the service: they are members-only).

STUDIOS_TOPIC = CLASSGROUPS_STUDIOS


class _StudioEvent(Event):
    TOPIC: ClassVar[str] = STUDIOS_TOPIC

    studio_id: str
    occurred_at: datetime

    def key(self) -> str:
        return self.studio_id


class StudioCreated(_StudioEvent):
    """A verified teacher opened a studio; ``area`` is the org path of the leader's school (what county, city
    and province admins follow)."""

    TYPE: ClassVar[str] = "cn.smartedu.classgroups.studio.created.v1"

    leader_id: str
    area: str
    subject_code: str | None
    """The subject the studio works on (e.g. ``math``), if one."""


class StudioMemberApplied(_StudioEvent):
    """A verified teacher (of any school) asked to join; the leader decides."""

    TYPE: ClassVar[str] = "cn.smartedu.classgroups.studio.member.applied.v1"

    account_id: str


class StudioMemberJoined(_StudioEvent):
    """The leader approved an application."""

    TYPE: ClassVar[str] = "cn.smartedu.classgroups.studio.member.joined.v1"

    account_id: str
    approved_by: str


class StudioMemberLeft(_StudioEvent):
    """A member is no longer in the studio: ``left`` on their own, ``rejected`` (an application refused),
    ``deactivated`` (identity deactivated the account)."""

    TYPE: ClassVar[str] = "cn.smartedu.classgroups.studio.member.left.v1"

    account_id: str
    reason: Literal["left", "rejected", "deactivated"]
    by: str


class StudioActivityScheduled(_StudioEvent):
    """A teaching-research activity (教研活动) was scheduled."""

    TYPE: ClassVar[str] = "cn.smartedu.classgroups.studio.activity.scheduled.v1"

    activity_id: str
    starts_at: datetime
    ends_at: datetime
    materials: int
    """How many materials (catalog resources and uploads) it carries."""
    scheduled_by: str
