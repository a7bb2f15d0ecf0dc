"""The org tree, role grants and revocations, the invitations waiting for an account's consent, and the signing key
rotation."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from common import access
from common.auth import MINISTRY_ADMIN, Principal, require_principal, require_role
from identity.api.deps import identity
from identity.domain import orgs
from identity.handlers import Identity
from identity.handlers.orgs import summary

router = APIRouter()


class RoleChange(BaseModel):
    user_id: str = Field(pattern=r"^u_[0-9a-f]{32}$")
    role: str = Field(max_length=40)
    org: str | None = Field(None, max_length=200)


class NewOrg(BaseModel):
    parent: str = Field(max_length=200)
    code: str = Field(max_length=40)
    name: str = Field(min_length=1, max_length=100)
    level: Literal["city", "county", "school"]


class RoleChangeResult(BaseModel):
    changed: bool
    status: Literal["granted", "revoked", "unchanged", "invited"]
    """``invited``: the account belongs to no organisation yet; the grant waits for it to accept."""


def _role_result(status: str) -> RoleChangeResult:
    return RoleChangeResult(changed=status in ("granted", "revoked"), status=status)  # type: ignore[arg-type]


class InvitationAnswer(BaseModel):
    role: str = Field(max_length=40)
    org: str | None = Field(None, max_length=200)


@router.get("/v1/orgs", tags=["orgs"], summary="The subtrees the caller administers")
@access.role(*access.ADMINS, note="lists only the subtrees the caller administers")
async def my_orgs(
    who: Principal = Depends(require_role(*orgs.ADMIN_ROLE_LEVEL, MINISTRY_ADMIN, any_scope=True)),
    s: Identity = Depends(identity),
) -> list[dict[str, str]]:
    return s.orgs.visible(who)


@router.get("/v1/orgs/{path:path}", tags=["orgs"], summary="A node and its children")
@access.role(*access.ADMINS, target="path.path")
async def org(
    path: str, who: Principal = Depends(require_principal), s: Identity = Depends(identity)
) -> dict[str, Any]:
    return s.orgs.node(who, path)


@router.post("/v1/orgs", status_code=201, tags=["orgs"])
@access.role(*access.ADMINS, target="body.parent")
async def add_org(
    body: NewOrg, who: Principal = Depends(require_principal), s: Identity = Depends(identity)
) -> dict[str, str]:
    return summary(await s.orgs.add(who, body.parent, body.code, body.name, orgs.Level(body.level)))


@router.post(
    "/v1/role-grants",
    tags=["roles"],
    summary="Grant a role scoped to an org node (audited); an account outside every org is invited instead",
)
@access.role_grantor()
async def grant(
    body: RoleChange, who: Principal = Depends(require_principal), s: Identity = Depends(identity)
) -> RoleChangeResult:
    return _role_result(await s.roles.change(who, body.user_id, body.role, body.org, grant=True))


@router.post("/v1/role-revocations", tags=["roles"], summary="Revoke a role (audited)")
@access.role_grantor()
async def revoke(
    body: RoleChange, who: Principal = Depends(require_principal), s: Identity = Depends(identity)
) -> RoleChangeResult:
    return _role_result(await s.roles.change(who, body.user_id, body.role, body.org, grant=False))


@router.get("/v1/accounts/me/invitations", tags=["roles"], summary="Roles offered to me, waiting for my consent")
@access.signed_in()
async def invitations(
    who: Principal = Depends(require_principal), s: Identity = Depends(identity)
) -> list[dict[str, str]]:
    return await s.roles.invitations(who)


@router.post("/v1/accounts/me/invitations/accept", tags=["roles"], summary="Accept a role offered to me")
@access.signed_in(note="only the account's own invitations; granted only if the inviter still may grant it")
async def accept_invitation(
    body: InvitationAnswer, who: Principal = Depends(require_principal), s: Identity = Depends(identity)
) -> RoleChangeResult:
    return _role_result(await s.roles.answer_invitation(who, body.role, body.org, accept=True))


@router.post(
    "/v1/accounts/me/invitations/decline", status_code=204, tags=["roles"], summary="Decline a role offered to me"
)
@access.signed_in(note="only the account's own invitations")
async def decline_invitation(
    body: InvitationAnswer, who: Principal = Depends(require_principal), s: Identity = Depends(identity)
) -> None:
    await s.roles.answer_invitation(who, body.role, body.org, accept=False)


@router.post("/v1/admin/signing-keys/rotate", tags=["tokens"], summary="Rotate the token signing key now")
@access.role(access.MINISTRY)
async def rotate(
    who: Principal = Depends(require_role(MINISTRY_ADMIN)), s: Identity = Depends(identity)
) -> dict[str, str]:
    return {"active_kid": await s.keys.rotate(who)}
