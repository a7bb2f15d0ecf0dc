"""The account-snapshot backfill (``identity.accounts.v1``), for ministry admins (operators)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from common import access
from common.auth import MINISTRY_ADMIN, Principal, require_role

router = APIRouter(tags=["account snapshots"])


@router.post(
    "/v1/admin/account-snapshots",
    status_code=202,
    summary="Publish every account's snapshot again on identity.accounts.v1 (in pages, in the background)",
)
@access.role(access.MINISTRY)
async def start_backfill(request: Request, who: Principal = Depends(require_role(MINISTRY_ADMIN))) -> dict[str, Any]:
    request.app.state.snapshots.start(who.subject)
    return request.app.state.snapshots.status()


@router.get("/v1/admin/account-snapshots", summary="The last account-snapshot backfill of this replica")
@access.role(access.MINISTRY)
async def backfill_status(request: Request, who: Principal = Depends(require_role(MINISTRY_ADMIN))) -> dict[str, Any]:
    return request.app.state.snapshots.status() or {"running": False, "published": 0}
