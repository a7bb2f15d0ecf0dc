"""The studios' pure rules: who leads and who joins, the membership's moves and their events, an activity's
schedule and materials, the catalog feed's ordering, which objects a leader may name."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from classgroups.domain import studios
from classgroups.domain.directory import Account
from classgroups.domain.media import kind_of
from classgroups.domain.studios import Material
from common.contracts.classgroups import StudioMemberApplied, StudioMemberJoined, StudioMemberLeft
from common.errors import Conflict, Forbidden, Invalid, NotFound

pytestmark = pytest.mark.unit
T0 = datetime(2026, 9, 1, 8, tzinfo=UTC)
SCHOOL = "cn/43/4301/430102/school-430102001"
LEADER = Account("t-lead", "teacher", verified=True, school=SCHOOL)
GUEST = Account("t-guest", "teacher", verified=True, school="cn/42/4201/420102/school-420102001")


def studio() -> studios.Studio:
    return studios.create(name="工作室", intro="", subject="math", leader=LEADER, at=T0)[0]


def test_only_a_verified_teacher_leads_and_the_area_is_the_school() -> None:
    s, events = studios.create(name="工作室", intro="", subject=None, leader=LEADER, at=T0)
    assert s.area == SCHOOL and s.in_area("cn/43") and not s.in_area("cn/42") and s.in_area(None)
    assert events[0].area == SCHOOL
    for who in (None, Account("t", "teacher"), Account("t", "teacher", verified=True), Account("t", active=False)):
        with pytest.raises(Forbidden):
            studios.create(name="x", intro="", subject=None, leader=who, at=T0)


def test_apply_decide_leave_and_apply_again() -> None:
    s = studio()
    pending = studios.apply(s, GUEST, None, T0)
    assert (pending.status, pending.version) == ("pending", 1) and isinstance(pending.events[0], StudioMemberApplied)
    with pytest.raises(Conflict):
        studios.apply(s, GUEST, pending, T0)
    with pytest.raises(Conflict):
        studios.apply(s, LEADER, None, T0)
    with pytest.raises(Forbidden):
        studios.apply(s, Account("s", "student"), None, T0)
    active = studios.decide(s, pending, True, LEADER.id, T0)
    assert (active.status, active.version) == ("active", 2) and isinstance(active.events[0], StudioMemberJoined)
    with pytest.raises(NotFound):
        studios.decide(s, active, True, LEADER.id, T0)
    with pytest.raises(Conflict):
        studios.apply(s, GUEST, active, T0)
    left = studios.leave(s, active, T0)
    assert left.status == "left" and left.events[0].reason == "left"
    with pytest.raises(Conflict):
        studios.leave(s, left, T0)
    assert studios.apply(s, GUEST, left, T0).version == 4  # may apply again
    rejected = studios.decide(s, studios.apply(s, GUEST, left, T0), False, LEADER.id, T0)
    assert rejected.status == "rejected" and isinstance(rejected.events[0], StudioMemberLeft)


def test_a_deactivated_account_leaves_active_or_pending_only() -> None:
    s = studio()
    pending = studios.apply(s, GUEST, None, T0)
    out = studios.deactivated(s, pending, T0)
    assert out is not None and out.status == "left" and out.events[0].reason == "deactivated"
    assert studios.deactivated(s, out, T0) is None


@pytest.mark.parametrize(
    ("starts", "ends", "code"),
    [
        (T0 - timedelta(hours=1), T0 + timedelta(hours=1), "in_the_past"),
        (T0 + timedelta(days=400), T0 + timedelta(days=400, hours=1), "too_far_ahead"),
        (T0 + timedelta(hours=2), T0 + timedelta(hours=1), "backwards"),
        (T0 + timedelta(hours=1), T0 + timedelta(days=9), "too_long"),
    ],
)
def test_an_activity_is_scheduled_ahead_and_ends_after_it_starts(starts, ends, code) -> None:
    with pytest.raises(Invalid) as refused:
        studios.schedule(
            studio(), title="t", agenda="", place="", starts_at=starts, ends_at=ends, materials=[], by="x", at=T0
        )
    assert refused.value.code == code


def test_materials_are_not_repeated_and_the_event_counts_them() -> None:
    one = Material("resource", "res-1")
    kw = dict(title="t", agenda="a", place="", starts_at=T0 + timedelta(1), ends_at=T0 + timedelta(1, 3600))
    with pytest.raises(Invalid):
        studios.schedule(studio(), materials=[one, one], by="x", at=T0, **kw)
    activity, events = studios.schedule(studio(), materials=[one], by="x", at=T0, **kw)
    assert events[0].materials == 1 and events[0].activity_id == activity.id


def test_a_leader_names_only_objects_uploaded_for_the_studio_by_them() -> None:
    studios.check_material_key("std-1", "t1", "studios/std-1/t1/abc", "m")
    for key in ("studios/std-2/t1/abc", "studios/std-1/t2/abc", "studios/std-1/t1/../t2/abc", "checkins/x"):
        with pytest.raises(Invalid):
            studios.check_material_key("std-1", "t1", key, "m")


def test_the_catalog_feed_keeps_the_newest_record() -> None:
    assert studios.newer_catalog_record(None, "c1")
    assert studios.newer_catalog_record("c1", "c2")
    assert not studios.newer_catalog_record("c2", "c2") and not studios.newer_catalog_record("c2", "c1")


def test_file_kinds_from_the_content_type() -> None:
    assert kind_of("application/pdf", ("photo", "document"), "f") == "document"
    with pytest.raises(Invalid):
        kind_of("video/mp4", ("photo", "document"), "f")


def test_a_deactivated_account_ends_open_class_memberships_only() -> None:
    from classgroups.domain import classes
    from classgroups.domain.classes import Membership

    cls = classes.create_administrative(school=SCHOOL, school_year=2026, grade=3, name="3班", by="a", at=T0)[0]
    for status in ("active", "pending", "invited"):
        after = classes.deactivated(cls, Membership(cls.id, "s1", status, "roster", T0, 3), "admin", T0)
        assert after is not None and (after.status, after.version) == ("left", 4)
        assert (after.events[0].reason, after.events[0].by) == ("removed", "admin")
    assert classes.deactivated(cls, Membership(cls.id, "s1", "left", "roster", T0), "admin", T0) is None
