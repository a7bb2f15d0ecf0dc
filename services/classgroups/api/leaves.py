"""Routes of leave requests (请假), administrative classes only."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, ConfigDict, Field

from classgroups.api.deps import ACCOUNT_ID, CLASS_ID, CallerDep, class_view, handlers
from classgroups.domain.leaves import MAX_PERIOD, LeaveRequest
from classgroups.handlers.leaves import AttachmentIn
from common import access

router = APIRouter(prefix="/v1", tags=["leave requests"])
ClassId = Annotated[str, Path(pattern=CLASS_ID)]
LeaveId = Annotated[str, Path(pattern=r"^lv-[0-9a-f]{16}$")]
StudentId = Annotated[str, Path(pattern=ACCOUNT_ID)]


class AttachmentBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str = Field(min_length=1, max_length=512, description="The key the upload was given.")
    content_type: str = Field(max_length=100, description="image/jpeg, image/png, image/webp or application/pdf")


class AttachmentUpload(BaseModel):
    model_config = ConfigDict(extra="forbid")

    student_id: str = Field(pattern=ACCOUNT_ID, description="The student (the caller, or the caller's child).")
    content_type: str = Field(max_length=100, description="image/jpeg, image/png, image/webp or application/pdf")
    size: int = Field(gt=0, description="Bytes the client will upload (the policy allows up to the kind's limit).")


class NewLeave(BaseModel):
    model_config = ConfigDict(extra="forbid")

    student_id: str = Field(pattern=ACCOUNT_ID, description="The student (the caller, or the caller's child).")
    kind: Literal["sick", "personal", "other"] = Field(description="病假 sick, 事假 personal, other")
    first_day: date
    last_day: date
    periods: list[Annotated[int, Field(ge=1, le=MAX_PERIOD)]] = Field(
        default_factory=list, max_length=MAX_PERIOD, description="Periods (节次) of a one-day leave; empty: all day."
    )
    reason: str = Field(min_length=1, max_length=500)
    attachment: AttachmentBody | None = Field(
        None,
        description="An attachment uploaded through `POST /v1/classes/{class_id}/leave-uploads` (e.g. a "
        "photo of a doctor's note, or a PDF): read back and checked on submission.",
    )


class Decision(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str | None = Field(None, max_length=200)


class Delegate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    teacher_id: str | None = Field(None, pattern=ACCOUNT_ID, description="A subject teacher of the class; null: none.")


def view(x: LeaveRequest, url: Callable[[str], str] | None = None) -> dict[str, Any]:
    """``url``: how a private view links the attachment (a short-lived GET URL); None: the public view (no
    reason, no attachment, no history)."""
    out: dict[str, Any] = {
        "id": x.id,
        "class_id": x.class_id,
        "student_id": x.student,
        "kind": x.kind,
        "first_day": x.first_day.isoformat(),
        "last_day": x.last_day.isoformat(),
        "periods": list(x.periods),
        "status": x.status,
    }
    if url is not None:  # the reason may be medical: for the family and the approvers, not every subject teacher
        out |= {
            "requested_by": x.requested_by,
            "reason": x.reason,
            "attachment": {"key": x.attachment, "url": url(x.attachment)} if x.attachment else None,
            "history": [{"at": h.at.isoformat(), "action": h.action, "by": h.by, "note": h.note} for h in x.history],
        }
    return out


@router.post("/classes/{class_id}/leaves", status_code=201, summary="Ask for leave (请假)")
@access.relation("member", "guardian", target="path.class_id", note="the student, or a guardian of the student")
async def submit(class_id: ClassId, body: NewLeave, caller: CallerDep, request: Request) -> dict[str, Any]:
    leave = await handlers(request).leaves.submit(
        caller,
        class_id,
        student=body.student_id,
        kind=body.kind,
        first_day=body.first_day,
        last_day=body.last_day,
        periods=body.periods,
        reason=body.reason,
        attachment=AttachmentIn(body.attachment.key, body.attachment.content_type) if body.attachment else None,
    )
    return view(leave, _url(request))


@router.post("/classes/{class_id}/leave-uploads", status_code=201, summary="A presigned upload for a leave attachment")
@access.relation("member", "guardian", target="path.class_id", note="the student, or a guardian of the student")
async def attachment_upload(
    class_id: ClassId, body: AttachmentUpload, caller: CallerDep, request: Request
) -> dict[str, Any]:
    return await handlers(request).leaves.presign(caller, class_id, body.student_id, body.content_type, body.size)


def _url(request: Request) -> Callable[[str], str]:
    return handlers(request).leaves.attachment_url


@router.get("/classes/{class_id}/leaves", summary="The class's leave requests (head teacher, delegate, admins)")
@access.relation("head_teacher", "leave_delegate", "admin", target="path.class_id")
async def of_class(
    class_id: ClassId,
    caller: CallerDep,
    request: Request,
    status: Literal["pending", "approved", "rejected", "cancelled"] | None = None,
) -> list[dict[str, Any]]:
    return [view(x, _url(request)) for x in await handlers(request).leaves.of_class(caller, class_id, status)]


@router.post("/classes/{class_id}/leaves/{leave_id}/approve", summary="Approve a leave request")
@access.relation("head_teacher", "leave_delegate", target="path.class_id")
async def approve(
    class_id: ClassId, leave_id: LeaveId, body: Decision, caller: CallerDep, request: Request
) -> dict[str, Any]:
    return view(await handlers(request).leaves.decide(caller, class_id, leave_id, True, body.note), _url(request))


@router.post("/classes/{class_id}/leaves/{leave_id}/reject", summary="Reject a leave request")
@access.relation("head_teacher", "leave_delegate", target="path.class_id")
async def reject(
    class_id: ClassId, leave_id: LeaveId, body: Decision, caller: CallerDep, request: Request
) -> dict[str, Any]:
    return view(await handlers(request).leaves.decide(caller, class_id, leave_id, False, body.note), _url(request))


@router.post("/classes/{class_id}/leaves/{leave_id}/cancel", summary="Cancel a leave request before it starts")
@access.relation("member", "guardian", target="path.class_id", note="who asked, the student or a guardian")
async def cancel(class_id: ClassId, leave_id: LeaveId, caller: CallerDep, request: Request) -> dict[str, Any]:
    return view(await handlers(request).leaves.cancel(caller, class_id, leave_id), _url(request))


@router.get("/classes/{class_id}/away-today", summary="Who is on approved leave today (Beijing time)")
@access.relation("teacher", "admin", target="path.class_id", note="every teacher of the class")
async def away_today(class_id: ClassId, caller: CallerDep, request: Request) -> dict[str, Any]:
    today, away = await handlers(request).leaves.away_today(caller, class_id)
    return {"date": today.isoformat(), "away": [view(x) for x in away]}


@router.get("/students/{student_id}/leaves", summary="A student's leave requests, for the student or a guardian")
@access.relation("self", "guardian", target="path.student_id")
async def of_student(student_id: StudentId, caller: CallerDep, request: Request) -> list[dict[str, Any]]:
    return [view(x, _url(request)) for x in await handlers(request).leaves.of_student(caller, student_id)]


@router.put("/classes/{class_id}/leave-delegate", summary="Name a subject teacher to decide leave requests too")
@access.relation("head_teacher", target="path.class_id")
async def delegate(class_id: ClassId, body: Delegate, caller: CallerDep, request: Request) -> dict[str, Any]:
    return class_view(await handlers(request).leaves.delegate(caller, class_id, body.teacher_id))
