"""Famous-teacher studios (名师工作室): the rules, and the events each change raises.

A studio is led by a verified teacher; its **area** is the org path of the leader's school, so the county, city
and province admins above that school see it. Verified teachers of any school apply; the leader approves or
rejects; a member may leave. Members and the leader share **resources** (ids of resources the public catalog
holds, as class groups learn it from the catalog's feed) and the leader schedules **teaching-research
activities** (教研活动) with a time, an agenda and materials (catalog resources and uploaded files). The studio's
name, introduction, area, member count and shared resources are public; members, activities and their
materials are the members' and the leader's only.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from classgroups.domain.directory import Account
from common.auth import org_covers
from common.contracts.classgroups import (
    StudioActivityScheduled,
    StudioCreated,
    StudioMemberApplied,
    StudioMemberJoined,
    StudioMemberLeft,
)
from common.errors import Conflict, Forbidden, Invalid, NotFound

MemberStatus = Literal["pending", "active", "rejected", "left"]
LeftReason = Literal["left", "rejected", "deactivated"]
MAX_ACTIVITY_LENGTH = timedelta(days=7)
MAX_SCHEDULE_AHEAD = timedelta(days=366)
MAX_MATERIALS = 20


def new_studio_id() -> str:
    return f"std-{uuid.uuid4().hex[:16]}"


def new_activity_id() -> str:
    return f"act-{uuid.uuid4().hex[:16]}"


@dataclass(frozen=True)
class Studio:
    id: str
    name: str
    intro: str
    subject: str | None
    leader: str
    area: str
    """Org path of the leader's school when the studio was created."""
    created_at: datetime
    version: int = 1

    def in_area(self, scope: str | None) -> bool:
        return org_covers(scope, self.area)


@dataclass(frozen=True)
class StudioMember:
    studio_id: str
    account_id: str
    status: MemberStatus
    since: datetime
    version: int = 1
    events: tuple[object, ...] = field(default=(), compare=False)


@dataclass(frozen=True)
class Material:
    """A catalog resource (``ref`` its id) or an uploaded file (``ref`` its object key, with type and size)."""

    kind: Literal["resource", "upload"]
    ref: str
    content_type: str | None = None
    size: int | None = None


@dataclass(frozen=True)
class Activity:
    id: str
    studio_id: str
    title: str
    agenda: str
    place: str
    starts_at: datetime
    ends_at: datetime
    materials: tuple[Material, ...]
    scheduled_by: str
    created_at: datetime


def create(
    *, name: str, intro: str, subject: str | None, leader: Account | None, at: datetime
) -> tuple[Studio, list[object]]:
    """A verified teacher opens a studio in the area of their school (the registry's school)."""
    if leader is None or not leader.is_verified_teacher() or not leader.school:
        raise Forbidden("Only a verified teacher may lead a studio.", code="not_verified_teacher")
    studio = Studio(new_studio_id(), name, intro, subject, leader.id, leader.school, at)
    event = StudioCreated(
        studio_id=studio.id, occurred_at=at, leader_id=leader.id, area=leader.school, subject_code=subject
    )
    return studio, [event]


def apply(studio: Studio, applicant: Account | None, current: StudioMember | None, at: datetime) -> StudioMember:
    """A verified teacher of any school asks to join; again after leaving or a rejection."""
    if applicant is None or not applicant.is_verified_teacher():
        raise Forbidden("Only verified teachers join studios.", code="not_verified_teacher")
    if applicant.id == studio.leader:
        raise Conflict("The leader leads the studio.", code="leader")
    if current is not None and current.status == "active":
        raise Conflict("Already a member of this studio.", code="already_member")
    if current is not None and current.status == "pending":
        raise Conflict("The application waits for the leader's decision.", code="already_applied")
    event = StudioMemberApplied(studio_id=studio.id, occurred_at=at, account_id=applicant.id)
    return _next(studio, applicant.id, current, "pending", at, event)


def decide(studio: Studio, current: StudioMember | None, approve: bool, by: str, at: datetime) -> StudioMember:
    if current is None or current.status != "pending":
        raise NotFound("No application of this teacher waits for a decision.", code="application_not_found")
    if approve:
        joined = StudioMemberJoined(studio_id=studio.id, occurred_at=at, account_id=current.account_id, approved_by=by)
        return _next(studio, current.account_id, current, "active", at, joined)
    return _left(studio, current, "rejected", by, at)


def leave(studio: Studio, current: StudioMember | None, at: datetime) -> StudioMember:
    if current is None or current.status != "active":
        raise Conflict("Not a member of this studio.", code="not_member")
    return _left(studio, current, "left", current.account_id, at)


def deactivated(studio: Studio, current: StudioMember, at: datetime) -> StudioMember | None:
    """Identity deactivated the account: an active member or a pending applicant is out (None: nothing to do)."""
    if current.status not in ("active", "pending"):
        return None
    return _left(studio, current, "deactivated", "identity", at)


def schedule(
    studio: Studio,
    *,
    title: str,
    agenda: str,
    place: str,
    starts_at: datetime,
    ends_at: datetime,
    materials: list[Material],
    by: str,
    at: datetime,
) -> tuple[Activity, list[object]]:
    """A teaching-research activity (教研活动): in the future (within a year), at most a week long."""
    if starts_at.tzinfo is None or ends_at.tzinfo is None:
        raise Invalid("Times need a UTC offset.", code="naive_time", field="starts_at")
    if starts_at < at:
        raise Invalid("An activity is scheduled ahead.", code="in_the_past", field="starts_at")
    if starts_at > at + MAX_SCHEDULE_AHEAD:
        raise Invalid("At most a year ahead.", code="too_far_ahead", field="starts_at")
    if ends_at <= starts_at:
        raise Invalid("It ends after it starts.", code="backwards", field="ends_at")
    if ends_at - starts_at > MAX_ACTIVITY_LENGTH:
        raise Invalid("An activity lasts at most a week.", code="too_long", field="ends_at")
    if len(materials) > MAX_MATERIALS:
        raise Invalid(f"At most {MAX_MATERIALS} materials.", code="too_many", field="materials")
    if len({(m.kind, m.ref) for m in materials}) != len(materials):
        raise Invalid("The same material twice.", code="material_repeated", field="materials")
    activity = Activity(
        new_activity_id(), studio.id, title, agenda, place, starts_at, ends_at, tuple(materials), by, at
    )
    event = StudioActivityScheduled(
        studio_id=studio.id,
        occurred_at=at,
        activity_id=activity.id,
        starts_at=starts_at,
        ends_at=ends_at,
        materials=len(materials),
        scheduled_by=by,
    )
    return activity, [event]


def upload_prefix(studio_id: str, uploader: str) -> str:
    """Where an uploader's material objects live: a key outside it was not uploaded for this studio by them."""
    return f"studios/{studio_id}/{uploader}/"


def check_material_key(studio_id: str, uploader: str, key: str, field_name: str) -> None:
    if not key.startswith(upload_prefix(studio_id, uploader)) or ".." in key:
        raise Invalid("This object was not uploaded for this studio by you.", code="media_foreign", field=field_name)


def _left(studio: Studio, current: StudioMember, reason: LeftReason, by: str, at: datetime) -> StudioMember:
    event = StudioMemberLeft(studio_id=studio.id, occurred_at=at, account_id=current.account_id, reason=reason, by=by)
    return _next(studio, current.account_id, current, "rejected" if reason == "rejected" else "left", at, event)


def _next(
    studio: Studio, account: str, current: StudioMember | None, status: MemberStatus, at: datetime, event: object
) -> StudioMember:
    version = current.version + 1 if current is not None else 1
    return StudioMember(studio.id, account, status, at, version, (event,))


def newer_catalog_record(held: str | None, cursor: str) -> bool:
    """A catalog record changes what we hold only when its cursor is newer (the catalog orders one resource's
    records by cursor; a redelivery or an older record recovered late changes nothing)."""
    return held is None or cursor > held
