"""After-school course rules: slots and their cells, the selection window, seats and the waitlist."""

from datetime import UTC, datetime, time, timedelta

import pytest

from classgroups.domain.courses import Course, CourseState, Slot
from common.errors import Invalid

pytestmark = pytest.mark.unit
NOW = datetime(2026, 9, 1, 8, tzinfo=UTC)


def course(*slots: Slot, capacity: int = 2, grades=(3, 4)) -> Course:
    return Course("c1", "cn/43/school", "2026-autumn", "书法", capacity, slots, grades, NOW, NOW + timedelta(days=3))


def test_overlapping_slots_share_a_cell_and_adjacent_ones_do_not():
    tue = course(Slot(2, time(16, 0), time(17, 0)))
    overlapping = course(Slot(2, time(16, 50), time(17, 30)))
    adjacent = course(Slot(2, time(17, 0), time(18, 0)))
    other_day = course(Slot(3, time(16, 0), time(17, 0)))
    assert tue.conflicts_with(overlapping) and set(tue.cells()) & set(overlapping.cells())
    for c in (adjacent, other_day):
        assert not tue.conflicts_with(c) and not set(tue.cells()) & set(c.cells())


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        (course(Slot(2, time(16, 5), time(17, 0))), "slots.0"),
        (course(Slot(8, time(16, 0), time(17, 0))), "slots.0"),
        (course(Slot(2, time(16, 0), time(17, 0)), Slot(2, time(16, 30), time(18, 0))), "slots"),
        (course(Slot(2, time(16, 0), time(17, 0)), capacity=0), "capacity"),
        (course(Slot(2, time(16, 0), time(17, 0)), grades=(13,)), "grades"),
    ],
)
def test_bad_courses_name_their_field(bad, field):
    with pytest.raises(Invalid) as refused:
        bad.check()
    assert refused.value.field == field


def test_window():
    c = course(Slot(2, time(16, 0), time(17, 0)))
    assert c.window_refusal(NOW - timedelta(seconds=1)) == "window_not_open"
    assert c.window_refusal(NOW) is None
    assert c.window_refusal(NOW + timedelta(days=3)) == "window_closed"


def test_seats_then_waitlist_in_order_and_promotion_on_drop():
    state = CourseState(2)
    assert [state.select(s) for s in ["a", "b", "c", "a", "d"]] == [
        "seated",
        "seated",
        "waitlisted",
        "refused",
        "waitlisted",
    ]
    assert state.drop("b") == ("dropped", "c")  # the first waiting takes the seat
    assert state.seated == ["a", "c"] and state.waitlist == ["d"]
    assert state.drop("d") == ("dropped", None) and state.waitlist == []
    assert state.drop("zz") == ("not_enrolled", None)


def test_the_fold_of_stored_operations_rebuilds_the_same_state():
    live = CourseState(1)
    ops = []
    for kind, student in [("select", "a"), ("select", "b"), ("select", "c"), ("drop", "a"), ("select", "a")]:
        if kind == "select":
            ops.append({"kind": kind, "student_id": student, "outcome": live.select(student)})
        else:
            ops.append({"kind": kind, "student_id": student, "outcome": live.drop(student)[0]})
    replayed = CourseState(1)
    for op in ops:
        replayed.apply(op)
    assert (replayed.seated, replayed.waitlist) == (live.seated, live.waitlist) == (["b"], ["c", "a"])
