"""Leave requests (请假), administrative classes only.

A student, or a guardian of the student, asks for leave: a kind (sick 病假, personal 事假, other), whole days from
``first_day`` to ``last_day`` or, on one day, some periods (节次), a reason, optionally an attachment (an object
key of the object store, e.g. a doctor's note). The head teacher or the delegate the head teacher named approves
or rejects it while it is pending. The requester (or the student, or a guardian) may cancel it until it starts.
Days are school days in Beijing time (UTC+8, no daylight saving). Every step is kept in the request's history
(who, when, what) and published; events carry no reason (it may be medical) and no attachment.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Literal

from common.contracts.classgroups import LeaveDecided, LeaveRequested
from common.errors import Conflict, Invalid
from common.reference import beijing_date as beijing_today

Kind = Literal["sick", "personal", "other"]
Status = Literal["pending", "approved", "rejected", "cancelled"]
MAX_DAYS = 30
BACKDATE_DAYS = 7  # a sick child is often reported after the fact
MAX_PERIOD = 12
ATTACHMENT_KEY = re.compile(r"^[A-Za-z0-9!_.*'()/-]{1,512}$")


@dataclass(frozen=True)
class Step:
    at: datetime
    action: str
    by: str
    note: str | None = None


@dataclass(frozen=True)
class LeaveRequest:
    id: str
    class_id: str
    student: str
    requested_by: str
    kind: Kind
    first_day: date
    last_day: date
    periods: tuple[int, ...]
    reason: str
    attachment: str | None
    status: Status
    history: tuple[Step, ...]
    version: int = 1

    def covers(self, day: date) -> bool:
        return self.status == "approved" and self.first_day <= day <= self.last_day


def attachment_prefix(class_id: str, student: str) -> str:
    """Where a student's leave attachments are uploaded (``POST /v1/classes/{id}/leave-uploads``)."""
    return f"leaves/{class_id}/{student}/"


def check_attachment_key(class_id: str, student: str, key: str) -> None:
    """The key has an object key's form and was issued for this student's leave in this class (no one names
    another child's upload); that the object exists and is what it claims is checked against the store."""
    if not ATTACHMENT_KEY.match(key) or ".." in key:
        raise Invalid("Not an object key.", code="bad_attachment", field="attachment.key")
    if not key.startswith(attachment_prefix(class_id, student)):
        raise Invalid(
            "This object was not uploaded for this student's leave.", code="media_foreign", field="attachment.key"
        )


def request(
    *,
    class_id: str,
    student: str,
    by: str,
    kind: Kind,
    first_day: date,
    last_day: date,
    periods: list[int],
    reason: str,
    attachment: str | None,
    at: datetime,
) -> tuple[LeaveRequest, list[object]]:
    today = beijing_today(at)
    if last_day < first_day:
        raise Invalid("The last day comes before the first.", code="backwards", field="last_day")
    if (last_day - first_day).days + 1 > MAX_DAYS:
        raise Invalid(f"At most {MAX_DAYS} days per request.", code="too_long", field="last_day")
    if first_day < today - timedelta(days=BACKDATE_DAYS):
        raise Invalid(f"At most {BACKDATE_DAYS} days back.", code="too_late", field="first_day")
    if periods and first_day != last_day:
        raise Invalid("Periods are for a leave of one day.", code="periods_of_one_day", field="periods")
    if any(not 1 <= p <= MAX_PERIOD for p in periods) or len(set(periods)) != len(periods):
        raise Invalid(f"Periods are distinct numbers 1–{MAX_PERIOD}.", code="bad_periods", field="periods")
    if attachment is not None:
        check_attachment_key(class_id, student, attachment)
    leave = LeaveRequest(
        f"lv-{uuid.uuid4().hex[:16]}",
        class_id,
        student,
        by,
        kind,
        first_day,
        last_day,
        tuple(sorted(periods)),
        reason,
        attachment,
        "pending",
        (Step(at, "requested", by),),
    )
    event = LeaveRequested(
        class_id=class_id,
        occurred_at=at,
        leave_id=leave.id,
        student_id=student,
        requested_by=by,
        kind=kind,
        first_day=first_day,
        last_day=last_day,
    )
    return leave, [event]


def decide(leave: LeaveRequest, approve: bool, by: str, note: str | None, at: datetime) -> tuple[LeaveRequest, list]:
    if leave.status != "pending":
        raise Conflict(f"The request is {leave.status} already.", code="decided")
    decision: Status = "approved" if approve else "rejected"
    return _step(leave, decision, by, note, at)


def cancel(leave: LeaveRequest, by: str, at: datetime) -> tuple[LeaveRequest, list]:
    if leave.status not in ("pending", "approved"):
        raise Conflict(f"The request is {leave.status}.", code="decided")
    if beijing_today(at) >= leave.first_day:
        raise Conflict("The leave has started; ask the head teacher.", code="started")
    return _step(leave, "cancelled", by, None, at)


def _step(leave: LeaveRequest, status: Status, by: str, note: str | None, at: datetime) -> tuple[LeaveRequest, list]:
    after = replace(
        leave, status=status, history=(*leave.history, Step(at, status, by, note)), version=leave.version + 1
    )
    event = LeaveDecided(
        class_id=leave.class_id, occurred_at=at, leave_id=leave.id, student_id=leave.student, decision=status, by=by
    )
    return after, [event]
