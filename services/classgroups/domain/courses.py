"""After-school courses (课后服务·选课): what a course is, and how its seats and waitlist evolve (pure).

**Why a single writer per course.** FerretDB has no transactions and can lose one of two concurrent updates of a
document, so a seat counter updated by concurrent requests overbooks. Every selection and drop of a course is
therefore first appended to a Kafka topic keyed by the course id (``CourseSelectionRequested``): one partition
holds a course's whole history in one order, the *arrival order*, and one consumer at a time applies it. The
consumer folds the course's operations (:class:`CourseState`), so capacity, "no student twice" and the
waitlist's order are decided by one sequential fold, never by racing writes. Each applied request becomes exactly
one document (its outcome and its events) whose ``_id`` is the request's position in the partition
(``<course>:<partition>:<offset>``), inserted with a unique ``_id``: a request replayed after a crash (applied but
its offset not yet committed) finds its document there and is skipped, so a crash at any point neither loses nor
repeats a seat. A zombie consumer that lost the partition computes the same outcome for the same offset from the
same history, and its insert is a duplicate.

The rules: a student holds at most one place (seat or waitlist) per course; a full course puts the request on
the waitlist, in arrival order; a drop frees the seat and promotes the first of the waitlist; outside the
selection window, or for a grade the course is not for, a request is refused; a course whose weekly slots overlap
one the student already holds is refused (checked against the student's places in the term, see the service).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time
from typing import Literal

from common.errors import Invalid

CELL_MINUTES = 10  # slot claims are kept per 10-minute cell of the week (see cells)
Outcome = Literal["seated", "waitlisted", "refused", "dropped", "not_enrolled"]


@dataclass(frozen=True)
class Slot:
    weekday: int  # 1 = Monday (ISO)
    starts: time
    ends: time

    def overlaps(self, other: Slot) -> bool:
        return self.weekday == other.weekday and self.starts < other.ends and other.starts < self.ends


@dataclass(frozen=True)
class Course:
    course_id: str
    school_id: str
    term: str
    title: str
    capacity: int
    slots: tuple[Slot, ...]
    grades: tuple[int, ...]
    opens_at: datetime
    closes_at: datetime

    def check(self) -> None:
        if not 1 <= self.capacity <= 500:
            raise Invalid("capacity is 1..500", code="capacity_out_of_range", field="capacity")
        if not self.slots:
            raise Invalid("a course meets at least once a week", code="no_slots", field="slots")
        for i, s in enumerate(self.slots):
            if not 1 <= s.weekday <= 7 or s.ends <= s.starts:
                raise Invalid("a slot is a weekday 1..7 and a time range", code="bad_slot", field=f"slots.{i}")
            if s.starts.minute % CELL_MINUTES or s.ends.minute % CELL_MINUTES or s.starts.second or s.ends.second:
                raise Invalid(
                    f"slots start and end on {CELL_MINUTES}-minute marks", code="bad_slot", field=f"slots.{i}"
                )
        if any(a.overlaps(b) for i, a in enumerate(self.slots) for b in self.slots[i + 1 :]):
            raise Invalid("the course's own slots overlap", code="slots_overlap", field="slots")
        if not self.grades or any(not 1 <= g <= 12 for g in self.grades):
            raise Invalid("eligible grades are 1..12", code="bad_grades", field="grades")
        if self.closes_at <= self.opens_at:
            raise Invalid("the selection window closes before it opens", code="window_backwards", field="closes_at")

    def conflicts_with(self, other: Course) -> bool:
        return any(a.overlaps(b) for a in self.slots for b in other.slots)

    def cells(self) -> list[str]:
        """The 10-minute cells of the week the course occupies: two courses overlap exactly when they share one
        (slots are on 10-minute marks), so a unique claim per (student, cell) refuses the second."""
        out = []
        for s in self.slots:
            start, end = s.starts.hour * 60 + s.starts.minute, s.ends.hour * 60 + s.ends.minute
            out += [f"{s.weekday}:{m // CELL_MINUTES:03d}" for m in range(start, end, CELL_MINUTES)]
        return out

    def window_refusal(self, at: datetime) -> str | None:
        if at < self.opens_at:
            return "window_not_open"
        if at >= self.closes_at:
            return "window_closed"
        return None


@dataclass
class CourseState:
    """A course's seats and waitlist, folded from its operations in partition order."""

    capacity: int
    seated: list[str] = field(default_factory=list)
    waitlist: list[str] = field(default_factory=list)

    def holds(self, student: str) -> bool:
        return student in self.seated or student in self.waitlist

    def select(self, student: str) -> Outcome:
        if self.holds(student):
            return "refused"  # already has a place: never twice
        if len(self.seated) < self.capacity:
            self.seated.append(student)
            return "seated"
        self.waitlist.append(student)
        return "waitlisted"

    def drop(self, student: str) -> tuple[Outcome, str | None]:
        """The drop's outcome, and who was promoted from the waitlist into the freed seat."""
        if student in self.waitlist:
            self.waitlist.remove(student)
            return "dropped", None
        if student not in self.seated:
            return "not_enrolled", None
        self.seated.remove(student)
        if self.waitlist and len(self.seated) < self.capacity:
            promoted = self.waitlist.pop(0)
            self.seated.append(promoted)
            return "dropped", promoted
        return "dropped", None

    def apply(self, op: dict) -> None:
        """Replay one stored operation (its outcome decided when it was first applied)."""
        if op["kind"] == "select" and op["outcome"] in ("seated", "waitlisted"):
            (self.seated if op["outcome"] == "seated" else self.waitlist).append(op["student_id"])
        elif op["kind"] == "drop" and op["outcome"] == "dropped":
            self.drop(op["student_id"])
