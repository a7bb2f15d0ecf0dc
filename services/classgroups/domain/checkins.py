"""Check-ins (打卡): a teacher's task for a class, students' daily submissions, reviews, streaks and labour stars.
Pure rules: no I/O, no HTTP; refusals are ``common.errors``.

The rules, as the README states them:

- **Schedule**: every day, weekdays (Monday–Friday), or chosen dates, within the task's date range. Days are
  Beijing calendar days (UTC+8, no daylight saving), whatever the client's clock says.
- **Late and missed**: a submission for a scheduled day ``d`` made on ``d`` (Beijing) is *on time*; made up to
  ``late_days`` days after ``d`` it is *late*; after that the day is closed and refused (``Gone``); a scheduled
  day without a submission once closed is *missed*. A day not yet come is refused. A redo asked by the teacher
  may be answered until ``late_days`` days after the request, whatever the day.
- **Streak**: consecutive scheduled days (non-scheduled days neither count nor break it) with a submission. The
  current streak counts back from the latest scheduled day; days still open (within their late window, not yet
  submitted) are skipped rather than breaking it.
- **Labour stars (劳动之星)**: see :func:`labour_stars`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Literal

from common.errors import Conflict, Gone, Invalid
from common.reference import beijing_date as beijing_day

ScheduleKind = Literal["daily", "weekdays", "dates"]
Timeliness = Literal["on_time", "late"]
Verdict = Literal["excellent", "redo"]
PeriodKind = Literal["week", "month"]

MAX_RANGE_DAYS = 366
MAX_PHOTOS = 9


@dataclass(frozen=True)
class Schedule:
    kind: ScheduleKind
    starts_on: date
    ends_on: date
    dates: tuple[date, ...] = ()

    def check(self) -> None:
        if self.ends_on < self.starts_on:
            raise Invalid("the task ends before it starts", code="date_range_backwards", field="schedule.ends_on")
        if (self.ends_on - self.starts_on).days >= MAX_RANGE_DAYS:
            raise Invalid(f"a task lasts at most {MAX_RANGE_DAYS} days", code="date_range_too_long", field="schedule")
        if self.kind == "dates":
            if not self.dates:
                raise Invalid("choose at least one date", code="no_dates", field="schedule.dates")
            outside = [d for d in self.dates if not self.starts_on <= d <= self.ends_on]
            if outside:
                raise Invalid(f"{outside[0]} is outside the date range", code="date_outside", field="schedule.dates")
        elif self.dates:
            raise Invalid("dates are chosen only for kind 'dates'", code="dates_unexpected", field="schedule.dates")

    def includes(self, day: date) -> bool:
        if not self.starts_on <= day <= self.ends_on:
            return False
        if self.kind == "daily":
            return True
        if self.kind == "weekdays":
            return day.weekday() < 5
        return day in self.dates

    def days(self, first: date | None = None, last: date | None = None) -> list[date]:
        """The scheduled days within [first, last] (default: the whole range)."""
        start = max(self.starts_on, first or self.starts_on)
        end = min(self.ends_on, last or self.ends_on)
        if self.kind == "dates":
            return sorted(d for d in set(self.dates) if start <= d <= end)
        return [d for d in (start + timedelta(n) for n in range((end - start).days + 1)) if self.includes(d)]


@dataclass(frozen=True)
class Evidence:
    """What a submission must hold: text, at least ``photos`` photos, a video."""

    text: bool = True
    photos: int = 0
    video: bool = False

    def check(self) -> None:
        if not 0 <= self.photos <= MAX_PHOTOS:
            raise Invalid(f"0..{MAX_PHOTOS} photos", code="photos_out_of_range", field="evidence.photos")

    def check_submission(self, text: str, photos: int, videos: int) -> None:
        problems: list[Invalid] = []
        if self.text and not text.strip():
            problems.append(Invalid("this task asks for text", code="text_required", field="text"))
        if photos < self.photos:
            problems.append(Invalid(f"this task asks for {self.photos} photos", code="photos_required", field="media"))
        if photos > MAX_PHOTOS:
            problems.append(Invalid(f"at most {MAX_PHOTOS} photos", code="too_many_photos", field="media"))
        if self.video and videos < 1:
            problems.append(Invalid("this task asks for a video", code="video_required", field="media"))
        if videos > 1:
            problems.append(Invalid("at most one video", code="too_many_videos", field="media"))
        if problems:  # every field at once (the edge lists them all: `errors`)
            first = problems[0]
            raise Invalid(
                first.message,
                code=first.code,
                field=first.field,
                errors=[{"field": p.field, "message": p.message, "code": p.code} for p in problems],
            )


@dataclass(frozen=True)
class Task:
    task_id: str
    class_id: str
    title: str
    schedule: Schedule
    evidence: Evidence
    late_days: int = 2
    labour: bool = False  # counts toward labour stars (劳动教育)
    resource_id: str | None = None

    def check(self) -> None:
        if not self.title.strip():
            raise Invalid("a task needs a title", code="title_required", field="title")
        if not 0 <= self.late_days <= 7:
            raise Invalid("late_days is 0..7", code="late_days_out_of_range", field="late_days")
        self.schedule.check()
        self.evidence.check()

    def timeliness(self, day: date, at: datetime, redo_requested_at: datetime | None = None) -> Timeliness:
        """On time or late, for a submission for ``day`` made at ``at``; refuses days not scheduled, not yet
        come, or closed (the redo answered within its own window keeps the day's first timeliness: late)."""
        if not self.schedule.includes(day):
            raise Invalid(f"{day} is not a day of this task", code="day_not_scheduled", field="day")
        today = beijing_day(at)
        if today < day:
            raise Invalid(f"{day} has not come yet (Beijing time)", code="day_in_future", field="day")
        if redo_requested_at is not None:
            if (today - beijing_day(redo_requested_at)).days > self.late_days:
                raise Gone("the time to redo this check-in has passed", code="redo_window_closed")
            return "on_time" if today == day else "late"
        if today == day:
            return "on_time"
        if (today - day).days <= self.late_days:
            return "late"
        raise Gone(f"{day} closed {self.late_days} days after it (missed)", code="day_closed")

    def closed(self, day: date, today: date) -> bool:
        return (today - day).days > self.late_days


def submission_id(task_id: str, student_id: str, day: str, version: int) -> str:
    """A day's check-in version is its ``_id``: inserting it is the check that the version is new."""
    return f"{task_id}:{student_id}:{day}:v{version}"


@dataclass(frozen=True)
class DayRecord:
    """A student's latest version for a day, as streaks and stars see it."""

    day: date
    timeliness: Timeliness
    verdict: Verdict | None = None


def streaks(task: Task, done: Iterable[date], today: date) -> tuple[int, int]:
    """(current, longest) streak of consecutive scheduled days with a submission, up to ``today``."""
    have = set(done)
    days = task.schedule.days(last=today)
    longest = run = 0
    for d in days:
        run = run + 1 if d in have else 0
        longest = max(longest, run)
    current = 0
    for d in reversed(days):
        if d in have:
            current += 1
        elif task.closed(d, today):
            break
        # an open day (still within its window) neither counts nor breaks the streak
    return current, longest


def day_states(task: Task, records: Mapping[date, DayRecord], today: date) -> dict[date, str]:
    """Each scheduled day up to today: on_time, late, missed or open."""
    out = {}
    for d in task.schedule.days(last=today):
        if d in records:
            out[d] = records[d].timeliness
        else:
            out[d] = "missed" if task.closed(d, today) else "open"
    return out


@dataclass(frozen=True)
class Standing:
    student_id: str
    current: int
    longest: int
    days_done: int


def leaderboard(task: Task, done_by_student: Mapping[str, Iterable[date]], today: date) -> list[Standing]:
    """Students ranked by current streak, then longest, then days done; ties by id (stable, not a rank)."""
    rows = []
    for student, done in done_by_student.items():
        days = set(done)
        current, longest = streaks(task, days, today)
        rows.append(Standing(student, current, longest, len(days)))
    return sorted(rows, key=lambda s: (-s.current, -s.longest, -s.days_done, s.student_id))


# ---------------------------------------------------------------------------------------------- labour stars

STARS_PER_PERIOD: dict[PeriodKind, int] = {"week": 3, "month": 5}
POINTS_ON_TIME, POINTS_LATE, POINTS_EXCELLENT = 2, 1, 3


@dataclass(frozen=True)
class Period:
    kind: PeriodKind
    first: date
    last: date

    @property
    def label(self) -> str:
        if self.kind == "week":
            year, week, _ = self.first.isocalendar()
            return f"{year}-W{week:02d}"
        return f"{self.first:%Y-%m}"

    @classmethod
    def parse(cls, label: str) -> Period:
        try:
            if "-W" in label:
                year, week = label.split("-W")
                first = date.fromisocalendar(int(year), int(week), 1)
                return cls("week", first, first + timedelta(6))
            year, month = (int(x) for x in label.split("-"))
            first = date(year, month, 1)
            nxt = date(year + month // 12, month % 12 + 1, 1)
            return cls("month", first, nxt - timedelta(1))
        except ValueError as exc:
            raise Invalid("a period is YYYY-Www or YYYY-MM", code="bad_period", field="period") from exc

    @classmethod
    def containing(cls, kind: PeriodKind, day: date) -> Period:
        if kind == "week":
            first = day - timedelta(day.weekday())
            return cls("week", first, first + timedelta(6))
        return cls.parse(f"{day:%Y-%m}")

    def previous(self) -> Period:
        return Period.containing(self.kind, self.first - timedelta(1))


@dataclass(frozen=True)
class Star:
    student_id: str
    points: int
    days_done: int


@dataclass
class StarsOutcome:
    period: Period
    scheduled_days: int
    stars: list[Star] = field(default_factory=list)


def stars_ready(period: Period, tasks: Iterable[Task], today: date) -> None:
    """Stars are awarded once the period is over and every late window of its days has closed."""
    grace = max((t.late_days for t in tasks), default=0)
    if (today - period.last).days <= grace:
        raise Conflict(
            f"{period.label} can be awarded from {period.last + timedelta(grace + 1)}", code="period_not_over"
        )


def labour_stars(
    period: Period,
    tasks: Iterable[Task],
    records: Mapping[str, Mapping[str, Iterable[DayRecord]]],
    students: Iterable[str],
) -> StarsOutcome:
    """The labour stars of a class for a period, from its labour-education tasks (``labour``).

    ``records``: task id → student id → the student's latest version per day. Each scheduled labour day of
    the period earns a student 2 points on time, 1 late, 3 more when the teacher marked it excellent (优秀), and
    nothing while a redo is pending. A student qualifies with at least half of the period's scheduled labour
    days done (a redo pending does not count as done) and at least one point. The stars go to the qualifying
    students with the most points: at most 3 a week and 5 a month, except that students tied with the last
    star all get one (no arbitrary tie-break between children).
    """
    labour = [t for t in tasks if t.labour]
    scheduled = sum(len(t.schedule.days(period.first, period.last)) for t in labour)
    outcome = StarsOutcome(period, scheduled)
    if not scheduled:
        return outcome
    points: dict[str, int] = dict.fromkeys(students, 0)
    done: dict[str, int] = dict.fromkeys(points, 0)
    for task in labour:
        days = set(task.schedule.days(period.first, period.last))
        for student, recs in records.get(task.task_id, {}).items():
            if student not in points:
                continue  # no longer in the class
            for r in recs:
                if r.day not in days or r.verdict == "redo":
                    continue
                done[student] += 1
                points[student] += POINTS_ON_TIME if r.timeliness == "on_time" else POINTS_LATE
                points[student] += POINTS_EXCELLENT if r.verdict == "excellent" else 0
    need = math.ceil(scheduled / 2)
    ranked = sorted(
        (Star(s, p, done[s]) for s, p in points.items() if p > 0 and done[s] >= need),
        key=lambda s: (-s.points, s.student_id),
    )
    limit = STARS_PER_PERIOD[period.kind]
    if len(ranked) > limit:
        cut = ranked[limit - 1].points
        ranked = [s for s in ranked if s.points >= cut]
    outcome.stars = ranked
    return outcome
