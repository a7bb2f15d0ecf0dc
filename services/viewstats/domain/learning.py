"""Learning hours (学时) of teachers: watch time of training courses → credited study hours.

A course (a resource with ``credit_hours`` in the catalog: a teacher-training course) is finished when the
teacher's accumulated watch time reaches its required time: ``credit_hours`` × 45 minutes (one study
hour, 学时, is a 45-minute class period). Finishing credits the hours once: the credit id is
``<user>:<resource>`` and the certificate number is derived from it, so a replay cannot credit twice.
Credits count in the calendar year (Beijing time) they were earned; the rule is 360 hours per 5 years
(教师五年一周期不少于360学时).

Watch time is credited only as fast as the server's clock runs (:func:`credited_seconds`): a heartbeat's claimed
seconds count up to the time elapsed since the previous accepted heartbeat of the same teacher on the same
resource, measured by the collector's timestamps (``at``), never the client's. A burst of heartbeats credits
nothing beyond the time that passed, and the first heartbeat on a resource only starts the clock.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import datetime

from common.reference import BEIJING

STUDY_HOUR_SECONDS = 45 * 60
CYCLE_YEARS = 5
CYCLE_HOURS = 360.0
MAX_HEARTBEAT_SECONDS = 300  # a client beats at least every 5 minutes; the contract refuses longer claims


def required_seconds(credit_hours: float) -> int:
    return round(credit_hours * STUDY_HOUR_SECONDS)


def credit_id(user_id: str, resource_id: str) -> str:
    return f"{user_id}:{resource_id}"


CERTIFICATE_ID_PATTERN = r"^SE-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}$"
_SAFE_KEY = re.compile(r"[A-Za-z0-9_\-]{1,64}\Z")


def certificate_id(key: bytes, user_id: str, resource_id: str) -> str:
    """The certificate number printed on the PDF and verifiable by API: stable for (teacher, course), and an
    HMAC, so nobody without the key can derive a teacher's number (and probe what they studied)."""
    digest = hmac.new(key, f"smartedu-cert:{user_id}:{resource_id}".encode(), hashlib.sha256).hexdigest()
    d = digest[:16].upper()
    return f"SE-{d[:4]}-{d[4:8]}-{d[8:12]}-{d[12:]}"


def progress_id(user_id: str, resource_id: str) -> str:
    return f"{user_id}|{resource_id}"


def field_key(resource_id: str) -> str:
    """A resource id usable as a document field name (no ``.``/``$``): itself when safe, else a digest."""
    if _SAFE_KEY.match(resource_id):
        return resource_id
    return "h" + hashlib.blake2b(resource_id.encode(), digest_size=10).hexdigest()


def credit_year(at: datetime) -> int:
    """Credits count in the calendar year of China (Beijing time) in which the course was finished."""
    return (at if at.tzinfo else at.replace(tzinfo=BEIJING)).astimezone(BEIJING).year


def credited_seconds(beats: list[Beat], last_at: datetime | None) -> tuple[list[int], datetime | None]:
    """The seconds each heartbeat of one (teacher, resource) credits, in offset order, and the new time of the last
    accepted heartbeat. ``last_at`` is that time before these beats (None: none was ever accepted).

    Between two accepted heartbeats at most the elapsed server time is credited (and at most the beat's own
    claim); the first heartbeat ever only starts the clock. So whatever a client sends, the seconds credited on a
    resource never exceed the time between its first and its last heartbeat: ~90 POSTs in a few seconds credit
    a few seconds, not ten hours. A heartbeat stamped before the last accepted one (two collector replicas, a
    skewed clock) credits nothing and does not move the clock back."""
    out = []
    for b in beats:
        if last_at is None:
            out.append(0)
            last_at = b.at
            continue
        elapsed = int((b.at - last_at).total_seconds())
        out.append(max(0, min(b.seconds, elapsed)))
        last_at = max(last_at, b.at)
    return out, last_at


def finishing_time(before: int, beats: list[tuple[int, datetime]], required: int) -> datetime | None:
    """The time of the heartbeat whose seconds made ``before`` reach ``required`` (beats in offset order),
    or None when the threshold was already reached before them or is not reached by them."""
    total = before
    if total >= required:
        return None
    for seconds, at in beats:
        total += seconds
        if total >= required:
            return at
    return None


@dataclass(frozen=True, slots=True)
class Beat:
    """One heartbeat as consumed: where it sits in the log and what it claims."""

    event_id: str
    partition: int
    offset: int
    user_id: str
    resource_id: str
    seconds: int
    at: datetime

    @property
    def claim_id(self) -> str:
        """Claims are per user: another user's event id can never suppress this user's heartbeat."""
        return f"{self.user_id}|{self.event_id}"

    @property
    def progress_id(self) -> str:
        return progress_id(self.user_id, self.resource_id)


def beats_to_count(
    beats: list[Beat], claimed_by: dict[int, tuple[int, int]], applied: dict[str, int]
) -> dict[str, list[Beat]]:
    """Which heartbeats to add, per progress document, so that each distinct heartbeat counts exactly once.

    ``claimed_by`` maps the index of every beat whose claim insert failed to the (partition, offset) that
    holds the claim; ``applied`` is the offset ``o`` of the progress documents read for those beats.
    - a fresh claim: the heartbeat was never seen, so never added → count;
    - a claim held by this very record: an earlier delivery claimed it and may have died before or after
      adding it → count iff the record's offset is above the document's applied offset;
    - a claim held by another record: a client retry (same event id) → drop."""
    out: dict[str, list[Beat]] = {}
    for i, beat in enumerate(beats):
        holder = claimed_by.get(i)
        if holder is not None and (
            holder != (beat.partition, beat.offset) or beat.offset <= applied.get(beat.progress_id, -1)
        ):
            continue
        out.setdefault(beat.progress_id, []).append(beat)
    return out


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


# --- what the ledger keeps (the store maps these to its documents) ---------------------------------------------
@dataclass(frozen=True, slots=True)
class Course:
    """A resource as the catalog last published it, as far as learning hours are concerned."""

    resource_id: str
    credit_hours: float | None
    title: str | None = None
    withdrawn: bool = False

    @property
    def credits(self) -> bool:
        """A course that credits hours now: it has credit hours and is not withdrawn."""
        return bool(self.credit_hours) and not self.withdrawn


@dataclass(frozen=True, slots=True)
class CourseChange:
    """What a catalog event changes of a resource: a publication (``credit_hours`` and ``title`` as published) or a
    withdrawal; ``version`` of the resource either way."""

    version: int
    withdrawn: bool = False
    credit_hours: float | None = None
    title: str | None = None


@dataclass(frozen=True, slots=True)
class Progress:
    """A teacher's watch time on one resource: ``seconds`` credited, the heartbeats' offset ``applied`` up to, the
    collector time ``last_at`` of the last accepted heartbeat, and the certificate once credited."""

    id: str
    user_id: str
    resource_id: str
    seconds: int = 0
    applied: int = -1
    last_at: datetime | None = None
    certificate_id: str | None = None


@dataclass(frozen=True, slots=True)
class Certificate:
    id: str  # the certificate number (certificate_id): one per course per teacher
    user_id: str
    resource_id: str
    hours: float
    year: int
    at: datetime
    title: str | None = None


@dataclass(frozen=True, slots=True)
class Credit:
    """One finished course in a teacher's record."""

    resource_id: str
    hours: float
    year: int
    certificate_id: str
