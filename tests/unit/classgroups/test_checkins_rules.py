"""The check-in rules: schedules, lateness, streaks, the leaderboard, labour stars, and the media checks."""

from datetime import UTC, date, datetime, timedelta

import pytest

from classgroups.domain.checkins import (
    DayRecord,
    Evidence,
    Period,
    Schedule,
    Task,
    labour_stars,
    leaderboard,
    stars_ready,
    streaks,
)
from classgroups.domain.media import MediaLimits, StoredObject, check_stored, check_upload_request
from common.errors import Conflict, Gone, Invalid
from common.reference import BEIJING

pytestmark = pytest.mark.unit

MON = date(2026, 11, 2)  # a Monday


def task(kind="daily", start=MON, end=MON + timedelta(27), dates=(), late_days=2, labour=True, **kw) -> Task:
    return Task("t1", "c1", "扫地", Schedule(kind, start, end, tuple(dates)), Evidence(**kw), late_days, labour)


def at(day: date, hour: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=BEIJING).astimezone(UTC)


def test_schedules_count_only_their_days():
    assert len(task("daily").schedule.days()) == 28
    assert [d.weekday() for d in task("weekdays").schedule.days(MON, MON + timedelta(6))] == [0, 1, 2, 3, 4]
    chosen = task("dates", dates=[MON + timedelta(3), MON])
    assert chosen.schedule.days() == [MON, MON + timedelta(3)]
    assert not chosen.schedule.includes(MON + timedelta(1))


@pytest.mark.parametrize(
    ("schedule", "code"),
    [
        (Schedule("daily", MON, MON - timedelta(1)), "date_range_backwards"),
        (Schedule("daily", MON, MON + timedelta(400)), "date_range_too_long"),
        (Schedule("dates", MON, MON + timedelta(3)), "no_dates"),
        (Schedule("dates", MON, MON + timedelta(3), (MON + timedelta(9),)), "date_outside"),
        (Schedule("daily", MON, MON + timedelta(3), (MON,)), "dates_unexpected"),
    ],
)
def test_bad_schedules_are_refused_with_their_field(schedule, code):
    with pytest.raises(Invalid) as refused:
        schedule.check()
    assert refused.value.code == code and refused.value.field.startswith("schedule")


def test_lateness_follows_beijing_days_and_the_late_window():
    t = task(late_days=2)
    # 23:30 in Beijing is still the day itself although UTC has the day before
    assert t.timeliness(MON, at(MON, 23)) == "on_time"
    assert t.timeliness(MON, at(MON, 0)) == "on_time"  # 00:xx Beijing is 16:xx UTC the day before
    assert t.timeliness(MON, at(MON + timedelta(2), 22)) == "late"
    with pytest.raises(Gone):
        t.timeliness(MON, at(MON + timedelta(3), 8))
    with pytest.raises(Invalid, match="not come"):
        t.timeliness(MON + timedelta(1), at(MON, 23))
    with pytest.raises(Invalid, match="not a day"):
        task("weekdays").timeliness(MON + timedelta(5), at(MON + timedelta(5), 9))


def test_a_redo_has_its_own_window():
    t = task(late_days=1)
    asked = at(MON + timedelta(10), 9)
    assert t.timeliness(MON, at(MON + timedelta(11), 9), redo_requested_at=asked) == "late"
    with pytest.raises(Gone):
        t.timeliness(MON, at(MON + timedelta(12), 9), redo_requested_at=asked)


def test_streaks_skip_open_days_and_break_on_missed_ones():
    t = task("weekdays", late_days=1)
    done = {MON, MON + timedelta(1), MON + timedelta(3), MON + timedelta(4), MON + timedelta(7)}
    # Wednesday missed (closed), then Thu, Fri, (weekend not scheduled), Mon; Tuesday (today) still open
    assert streaks(t, done, MON + timedelta(8)) == (3, 3)
    # a day still within its late window does not break the current streak
    assert streaks(t, done - {MON + timedelta(7)}, MON + timedelta(8)) == (2, 2)
    # once closed it does
    assert streaks(t, done - {MON + timedelta(7)}, MON + timedelta(9)) == (0, 2)


def test_leaderboard_ranks_current_streak_first():
    t = task("daily")
    board = leaderboard(t, {"a": {MON, MON + timedelta(1)}, "b": {MON + timedelta(2)}, "c": set()}, MON + timedelta(2))
    assert [(s.student_id, s.current, s.days_done) for s in board] == [("a", 2, 2), ("b", 1, 1), ("c", 0, 0)]


def test_evidence_lists_every_missing_field():
    with pytest.raises(Invalid) as refused:
        Evidence(text=True, photos=2, video=True).check_submission("  ", photos=1, videos=0)
    codes = {f["code"] for f in refused.value.errors}
    assert codes == {"text_required", "photos_required", "video_required"}


def test_periods():
    assert Period.containing("week", MON + timedelta(3)).label == "2026-W45"
    assert Period.parse("2026-W45").first == MON
    assert Period.parse("2026-02").last == date(2026, 2, 28)
    assert Period.parse("2026-12").last == date(2026, 12, 31)
    with pytest.raises(Invalid):
        Period.parse("last week")


def _week(kind_points):  # student → [(weekday offset, timeliness, verdict)]
    return {s: [DayRecord(MON + timedelta(o), tl, v) for o, tl, v in rows] for s, rows in kind_points.items()}


def test_labour_stars_rule():
    week = Period.containing("week", MON)
    t = task("weekdays")  # 5 scheduled days: qualifying needs 3
    records = _week(
        {
            "s1": [(0, "on_time", "excellent"), (1, "on_time", None), (2, "on_time", None)],  # 5 + 2 + 2 = 9
            "s2": [(0, "on_time", None), (1, "late", None), (2, "on_time", None), (3, "on_time", None)],  # 7
            "s3": [(0, "on_time", None), (1, "on_time", None), (2, "late", None), (3, "on_time", "redo")],  # 5
            "s4": [(0, "on_time", "excellent"), (1, "on_time", "excellent")],  # 10 but only 2 of 5 days
            "s5": [(0, "on_time", None), (1, "on_time", None), (2, "late", None)],  # 5, tied with s3
        }
    )
    out = labour_stars(week, [t], {"t1": records}, ["s1", "s2", "s3", "s4", "s5", "s6"])
    assert out.scheduled_days == 5
    # top 3 by points among qualifiers; s3 and s5 tie for the third star and both get one
    assert [(s.student_id, s.points) for s in out.stars] == [("s1", 9), ("s2", 7), ("s3", 5), ("s5", 5)]
    # tasks not marked labour count for nothing
    assert labour_stars(week, [task(labour=False)], {"t1": records}, ["s1"]).stars == []


def test_stars_wait_for_the_late_windows():
    week = Period.containing("week", MON)
    with pytest.raises(Conflict):
        stars_ready(week, [task(late_days=2)], week.last + timedelta(2))
    stars_ready(week, [task(late_days=2)], week.last + timedelta(3))


LIMITS = MediaLimits(photo_max_bytes=1000, video_max_bytes=5000)
JPEG_HEAD = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 40
MP4_HEAD = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x00" * 40


def test_upload_requests_are_bounded():
    check_upload_request("photo", "image/jpeg", 1000, LIMITS, "media")
    with pytest.raises(Invalid, match="must be one of"):
        check_upload_request("photo", "application/x-msdownload", 10, LIMITS, "media")
    with pytest.raises(Invalid) as big:
        check_upload_request("video", "video/mp4", 5001, LIMITS, "media")
    assert big.value.field == "media.size"


def test_stored_objects_must_be_what_they_claim():
    check_stored("photo", "image/jpeg", StoredObject(500, "image/jpeg", JPEG_HEAD), LIMITS, "media.0")
    check_stored("video", "video/mp4", StoredObject(4000, "video/mp4", MP4_HEAD), LIMITS, "media.0")
    with pytest.raises(Invalid, match="no object"):
        check_stored("photo", "image/jpeg", None, LIMITS, "media.0")
    with pytest.raises(Invalid) as mismatch:  # a JPEG claimed as a video
        check_stored("video", "video/mp4", StoredObject(500, "video/mp4", JPEG_HEAD), LIMITS, "media.1")
    assert mismatch.value.code == "media_type_mismatch" and mismatch.value.field == "media.1.content_type"
    with pytest.raises(Invalid, match="bytes"):
        check_stored("photo", "image/jpeg", StoredObject(1001, "image/jpeg", JPEG_HEAD), LIMITS, "media.0")
