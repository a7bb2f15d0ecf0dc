"""Routes of 综合素质评价 (德智体美劳): records, a student's term summary with a chart, the class summary."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from classgroups.api.deps import ACCOUNT_ID, CLASS_ID, CallerDep, handlers
from classgroups.domain import evaluation as domain
from classgroups.domain.evaluation import MAX_POINTS, MIN_POINTS, TERM_PATTERN, Evaluation, Evidence
from common import access

router = APIRouter(prefix="/v1", tags=["evaluation"])
ClassId = Annotated[str, Path(pattern=CLASS_ID)]
StudentId = Annotated[str, Path(pattern=ACCOUNT_ID)]
Term = Annotated[str | None, Query(pattern=TERM_PATTERN, description="e.g. 2026-1; default: the current term")]


class EvidenceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["checkin", "resource"]
    id: str = Field(pattern=r"^[A-Za-z0-9_.:-]{1,80}$")


class NewEvaluation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    student_id: str = Field(pattern=ACCOUNT_ID)
    dimension: Literal["moral", "intellectual", "physical", "aesthetic", "labour"] = Field(
        description="德 moral, 智 intellectual, 体 physical, 美 aesthetic, 劳 labour"
    )
    points: int = Field(ge=MIN_POINTS, le=MAX_POINTS)
    comment: str = Field(min_length=1, max_length=200)
    evidence: EvidenceIn | None = None


def view(e: Evaluation) -> dict[str, Any]:
    return {
        "id": e.id,
        "class_id": e.class_id,
        "student_id": e.student,
        "teacher_id": e.teacher,
        "dimension": e.dimension,
        "points": e.points,
        "comment": e.comment,
        "evidence": {"kind": e.evidence.kind, "id": e.evidence.id} if e.evidence else None,
        "term": e.term,
        "at": e.at.isoformat(),
    }


@router.post("/classes/{class_id}/evaluations", status_code=201, summary="Record an evaluation (综合素质评价)")
@access.relation("teacher", target="path.class_id", note="a teacher of the administrative class")
async def record(class_id: ClassId, body: NewEvaluation, caller: CallerDep, request: Request) -> dict[str, Any]:
    evidence = Evidence(body.evidence.kind, body.evidence.id) if body.evidence else None
    e = await handlers(request).evaluations.record(
        caller,
        class_id,
        student=body.student_id,
        dimension=body.dimension,
        points=body.points,
        comment=body.comment,
        evidence=evidence,
    )
    return view(e)


@router.get("/classes/{class_id}/evaluations/summary", summary="Every student's term totals per dimension")
@access.relation("head_teacher", "admin", target="path.class_id")
async def class_summary(class_id: ClassId, caller: CallerDep, request: Request, term: Term = None) -> dict[str, Any]:
    return await handlers(request).evaluations.of_class(caller, class_id, term)


@router.get("/students/{student_id}/evaluations", summary="A student's term: records and totals per dimension")
@access.relation("self", "guardian", target="path.student_id", note="never a classmate's")
async def of_student(student_id: StudentId, caller: CallerDep, request: Request, term: Term = None) -> dict[str, Any]:
    term, records = await handlers(request).evaluations.of_student(caller, student_id, term)
    return {"term": term, "summary": domain.summary(records), "records": [view(e) for e in records]}


@router.get(
    "/students/{student_id}/evaluations/chart.svg",
    summary="A student's term as a bar chart (SVG)",
    response_class=Response,
    responses={200: {"content": {"image/svg+xml": {}}}},
)
@access.relation("self", "guardian", target="path.student_id")
async def chart(student_id: StudentId, caller: CallerDep, request: Request, term: Term = None) -> Response:
    svg = await handlers(request).evaluations.chart(caller, student_id, term)
    return Response(svg, media_type="image/svg+xml", headers={"Cache-Control": "private, max-age=60"})
