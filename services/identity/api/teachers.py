"""Real-name verification of teachers (教师实名认证)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from common import access
from common.auth import Principal, require_principal
from common.problems import Problem
from identity.api.deps import identity
from identity.handlers import Identity
from identity.registry import RegistryUnavailable

router = APIRouter()


class TeacherVerification(BaseModel):
    national_id: str = Field(min_length=18, max_length=18)


@router.post("/v1/teacher-verifications", tags=["teachers"], summary="Real-name verification (教师实名认证)")
@access.account_kind("teacher")
async def verify_teacher(
    body: TeacherVerification, who: Principal = Depends(require_principal), s: Identity = Depends(identity)
) -> dict[str, str]:
    try:
        return {"outcome": await s.teachers.verify(who, body.national_id)}
    except RegistryUnavailable:
        raise Problem(503, "Teacher registry unavailable", "Try again later.", code="registry_unavailable") from None
