"""Guardian links (家长绑定): a parent's request, its approval."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from common import access
from common.auth import Principal, require_principal
from identity.api.deps import identity
from identity.handlers import Identity

router = APIRouter()


class LinkRequest(BaseModel):
    child_id: str = Field(pattern=r"^u_[0-9a-f]{32}$")


@router.post("/v1/guardian-links", status_code=201, tags=["guardians"])
@access.account_kind("parent")
async def request_link(
    body: LinkRequest, who: Principal = Depends(require_principal), s: Identity = Depends(identity)
) -> dict[str, str]:
    link = await s.guardians.request_link(who, body.child_id)
    return {"parent_id": link.parent_id, "child_id": link.child_id, "status": link.status}


@router.post("/v1/guardian-links/{child_id}/{parent_id}/approve", tags=["guardians"])
@access.guardian_approver()
async def approve_link(
    child_id: str, parent_id: str, who: Principal = Depends(require_principal), s: Identity = Depends(identity)
) -> dict[str, str]:
    link = await s.guardians.approve_link(who, parent_id, child_id)
    return {"status": link.status, "approver_role": link.approver_role or ""}
