"""Routes of online classes (网络班): creation, join codes, invitations, approvals, leaving, transfer."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from classgroups.api.deps import ACCOUNT_ID, CLASS_ID, CallerDep, class_view, handlers, membership_view
from common import access
from common.errors import Forbidden

router = APIRouter(prefix="/v1", tags=["online classes"])
ClassId = Annotated[str, Path(pattern=CLASS_ID)]
AccountId = Annotated[str, Path(pattern=ACCOUNT_ID)]


class NewOnlineClass(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=40)
    approval_required: bool = Field(False, description="Joins by code wait for the owner's approval.")


class NewCode(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ttl_hours: int | None = Field(None, ge=1, le=720, description="At most CLASSGROUPS_CODE_TTL_HOURS.")


class Join(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(min_length=1, max_length=32)


class Invitation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    account_id: str = Field(pattern=ACCOUNT_ID)


class Transfer(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to: str = Field(pattern=ACCOUNT_ID, description="A verified teacher's account id.")


@router.post("/online-classes", status_code=201, summary="Create an online class (网络班)")
@access.relation("verified_teacher", note="a teacher verified against the national registry (identity's events)")
async def create_online(body: NewOnlineClass, caller: CallerDep, request: Request) -> dict[str, Any]:
    cls = await handlers(request).online.create(caller, name=body.name, approval_required=body.approval_required)
    return class_view(cls)


@router.post("/classes/{class_id}/codes", status_code=201, summary="Issue a join code (expiring)")
@access.relation("owner", target="path.class_id")
async def issue_code(class_id: ClassId, body: NewCode, caller: CallerDep, request: Request) -> dict[str, Any]:
    code = await handlers(request).online.issue_code(caller, class_id, body.ttl_hours)
    return {"code": code.code, "class_id": code.class_id, "expires_at": code.expires_at.isoformat()}


@router.delete("/classes/{class_id}/codes/{code}", status_code=204, summary="Revoke a join code at once")
@access.relation("owner", target="path.class_id")
async def revoke_code(
    class_id: ClassId, code: Annotated[str, Path(max_length=32)], caller: CallerDep, request: Request
) -> Response:
    await handlers(request).online.revoke_code(caller, class_id, code)
    return Response(status_code=204)


@router.post("/joins", summary="Join an online class with its code (failed attempts are rate-limited)")
@access.account_kind("student")
async def join(body: Join, caller: CallerDep, request: Request) -> dict[str, Any]:
    if caller.principal.kind != "student":
        raise Forbidden("Only students join classes.", code="not_a_student")
    return membership_view(await handlers(request).online.join_by_code(caller, body.code))


@router.post("/classes/{class_id}/invitations", status_code=201, summary="Invite a student")
@access.relation("owner", target="path.class_id")
async def invite(class_id: ClassId, body: Invitation, caller: CallerDep, request: Request) -> dict[str, Any]:
    return membership_view(await handlers(request).online.invite(caller, class_id, body.account_id))


@router.post("/classes/{class_id}/invitation/accept", summary="Accept the caller's invitation")
@access.relation("invited", target="path.class_id")
async def accept(class_id: ClassId, caller: CallerDep, request: Request) -> dict[str, Any]:
    return membership_view(await handlers(request).online.answer(caller, class_id, True))


@router.post("/classes/{class_id}/invitation/decline", summary="Decline the caller's invitation")
@access.relation("invited", target="path.class_id")
async def decline(class_id: ClassId, caller: CallerDep, request: Request) -> dict[str, Any]:
    return membership_view(await handlers(request).online.answer(caller, class_id, False))


@router.post("/classes/{class_id}/members/{account_id}/approve", summary="Approve a request to join")
@access.relation("owner", target="path.class_id")
async def approve(class_id: ClassId, account_id: AccountId, caller: CallerDep, request: Request) -> dict[str, Any]:
    return membership_view(await handlers(request).online.decide(caller, class_id, account_id, True))


@router.post("/classes/{class_id}/members/{account_id}/reject", summary="Reject a request to join")
@access.relation("owner", target="path.class_id")
async def reject(class_id: ClassId, account_id: AccountId, caller: CallerDep, request: Request) -> dict[str, Any]:
    return membership_view(await handlers(request).online.decide(caller, class_id, account_id, False))


@router.post("/classes/{class_id}/leave", summary="Leave an online class")
@access.relation("member", target="path.class_id")
async def leave(class_id: ClassId, caller: CallerDep, request: Request) -> dict[str, Any]:
    return membership_view(await handlers(request).online.leave(caller, class_id))


@router.post("/classes/{class_id}/transfer", summary="Hand the class to another verified teacher")
@access.relation("owner", target="path.class_id")
async def transfer(class_id: ClassId, body: Transfer, caller: CallerDep, request: Request) -> dict[str, Any]:
    return class_view(await handlers(request).online.transfer(caller, class_id, body.to))
