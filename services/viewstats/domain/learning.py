"""Learning hours (学时) of teachers: watch time of training courses → credited study hours.

A course (a ``teacher_training`` resource with ``credit_hours`` in the catalog) is finished when the
teacher's accumulated watch time reaches its required time: ``credit_hours`` × 45 minutes (one study
hour, 学时, is a 45-minute class period). Finishing credits the hours once: the credit id is
``<user>:<resource>``, so a replayed heartbeat cannot credit twice. Credits count in the calendar year
(Beijing time) they were earned; the rule is 360 hours per 5 years (教师五年一周期不少于360学时).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

STUDY_HOUR_SECONDS = 45 * 60
CYCLE_YEARS = 5
CYCLE_HOURS = 360.0
MAX_HEARTBEAT_SECONDS = 300  # a client beats at least every 5 minutes; longer claims are capped


def required_seconds(credit_hours: float) -> int:
    return round(credit_hours * STUDY_HOUR_SECONDS)


def credit_id(user_id: str, resource_id: str) -> str:
    return f"{user_id}:{resource_id}"


def certificate_id(user_id: str, resource_id: str) -> str:
    """A short, stable, unguessable-enough certificate number printed on the PDF and verifiable by API."""
    digest = hashlib.sha256(f"smartedu-cert:{user_id}:{resource_id}".encode()).hexdigest()[:16].upper()
    return f"SE-{digest[:4]}-{digest[4:8]}-{digest[8:12]}-{digest[12:]}"


@dataclass
class CourseProgress:
    """Watch time of one teacher on one course; ``credited`` once the required time is reached."""

    user_id: str
    resource_id: str
    seconds: int = 0
    credited: bool = False
    heartbeat_ids: set[str] = field(default_factory=set)

    def add(self, event_id: str, seconds: int, credit_hours: float | None) -> bool:
        """Add a heartbeat; True exactly when this heartbeat finishes the course."""
        if event_id in self.heartbeat_ids:
            return False
        self.heartbeat_ids.add(event_id)
        self.seconds += max(0, min(seconds, MAX_HEARTBEAT_SECONDS))
        if self.credited or not credit_hours:
            return False
        if self.seconds >= required_seconds(credit_hours):
            self.credited = True
            return True
        return False


@dataclass(frozen=True)
class CycleStatus:
    hours_by_year: dict[int, float]
    total: float
    required: float
    met: bool
    missing: float


def cycle_status(hours_by_year: dict[int, float], current_year: int) -> CycleStatus:
    """Hours in the 5-year window ending with ``current_year`` against the 360-hour rule."""
    years = {y: round(hours_by_year.get(y, 0.0), 2) for y in range(current_year - CYCLE_YEARS + 1, current_year + 1)}
    total = round(sum(years.values()), 2)
    return CycleStatus(years, total, CYCLE_HOURS, total >= CYCLE_HOURS, round(max(0.0, CYCLE_HOURS - total), 2))
