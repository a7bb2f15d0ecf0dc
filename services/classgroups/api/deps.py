"""What every route of the service shares: the caller, the handlers, the JSON views of the domain."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request

from classgroups.access import Caller
from classgroups.domain.classes import ClassGroup, Membership
from common.auth import require_principal

ACCOUNT_ID = r"^[A-Za-z0-9_-]{1,64}$"
CLASS_ID = r"^cls-[0-9a-f]{16}$"
ORG_PATH = r"^cn(/[0-9A-Za-z-]{1,64}){1,6}$"


async def _caller(request: Request) -> Caller:
    # The token is read here, not as a dependency of its own: FastAPI's solving of each dependency is a share of
    # a request's CPU (check-in submissions, ``docs/BENCHMARKS.md``).
    return await request.app.state.classgroups.access.caller(await require_principal(request))


CallerDep = Annotated[Caller, Depends(_caller)]


def handlers(request: Request) -> Any:
    return request.app.state.classgroups


def class_view(cls: ClassGroup, relations: frozenset[str] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": cls.id,
        "kind": cls.kind,
        "name": cls.name,
        "version": cls.version,
        "created_at": cls.created_at.isoformat(),
    }
    if cls.administrative:
        out |= {
            "school": cls.school,
            "school_year": cls.school_year,
            "grade": cls.grade,
            "head_teacher_id": cls.head_teacher,
            "subject_teachers": [{"teacher_id": t, "subject": s} for t, s in cls.subject_teachers],
            "leave_delegate_id": cls.leave_delegate,
        }
    else:
        out |= {"owner_id": cls.owner, "approval_required": cls.approval_required}
    if relations is not None:
        out["your_relations"] = sorted(relations)
    return out


def membership_view(m: Membership) -> dict[str, Any]:
    return {
        "class_id": m.class_id,
        "account_id": m.account_id,
        "status": m.status,
        "via": m.via,
        "since": m.since.isoformat(),
    }
