"""HTTP routes of after-school courses (课后服务·选课). HTTP only: the rules are in ``classgroups.handlers.courses``
and ``classgroups.domain.courses``. A place request is answered 202 once Kafka holds it; its outcome (seated,
waitlisted in arrival order, refused) is read at ``/v1/course-requests/{request_id}``."""

from __future__ import annotations

from datetime import datetime, time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from classgroups.api.deps import ACCOUNT_ID, ORG_PATH, CallerDep
from classgroups.handlers.checkins import utcnow
from classgroups.handlers.courses import CourseService
from common import access
from common.errors import Forbidden
from common.observability import BusinessFigure

router = APIRouter(prefix="/v1", tags=["after-school courses"])
SELECTIONS = BusinessFigure(
    "classgroups_course_selections_total",
    "After-school course requests accepted (202, applied in arrival order by the course's writer): select or drop",
    "kind",
    ("select", "drop"),
)

CourseId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$")]
RequestId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$")]


async def service(request: Request) -> CourseService:
    # async: FastAPI runs a plain ``def`` dependency in a worker thread, a thread hop on every request
    return request.app.state.courses


Courses = Annotated[CourseService, Depends(service)]


class SlotIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    weekday: int = Field(ge=1, le=7, description="1 = Monday.")
    starts: time = Field(description="HH:MM, on a 10-minute mark.")
    ends: time


class CourseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    school: str = Field(pattern=ORG_PATH)
    term: str = Field(pattern=r"^\d{4}-(spring|autumn)$", description="e.g. 2026-autumn")
    title: str = Field(min_length=1, max_length=60)
    description: str = Field("", max_length=2000)
    capacity: int = Field(ge=1, le=500)
    slots: list[SlotIn] = Field(min_length=1, max_length=7)
    grades: list[int] = Field(min_length=1, max_length=12)
    opens_at: datetime
    closes_at: datetime


class PlaceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    student_id: str | None = Field(None, pattern=ACCOUNT_ID, description="A guardian's child (default: the caller).")


def _out(doc: dict[str, Any]) -> dict[str, Any]:
    return {"course_id": doc["_id"], **{k: v for k, v in doc.items() if k not in ("_id", "outbox")}}


@router.post("/courses", status_code=201, summary="Publish an after-school course for a term")
@access.role(*access.ADMINS, target="body.school")
async def publish(body: CourseIn, who: CallerDep, courses: Courses) -> dict[str, Any]:
    if not who.principal.has_role(*access.ADMINS, org=body.school):
        raise Forbidden("Requires an admin role covering the school.", code="not_school_admin")
    return _out(await courses.publish(who.id, body.model_dump(), utcnow()))


@router.get("/courses", summary="A school's after-school courses")
@access.signed_in(note="course listings of a school are not confidential to its users")
async def list_courses(
    who: CallerDep,
    courses: Courses,
    school: Annotated[str, Query(pattern=ORG_PATH)],
    term: Annotated[str | None, Query(pattern=r"^\d{4}-(spring|autumn)$")] = None,
) -> list[dict[str, Any]]:
    return [_out(d) for d in await courses.store.courses(school, term)]


@router.get("/courses/{course_id}", summary="An after-school course")
@access.signed_in()
async def get_course(course_id: CourseId, who: CallerDep, courses: Courses) -> dict[str, Any]:
    return _out(await courses.course(course_id))


@router.post("/courses/{course_id}/selections", status_code=202, summary="Ask for a place (applied in arrival order)")
@access.account_kind("student", "parent", note="a student of the course's school, or a guardian for their child")
async def select(course_id: CourseId, body: PlaceIn, who: CallerDep, courses: Courses) -> dict[str, Any]:
    accepted = await courses.request(course_id, who, body.student_id, "select", utcnow())
    SELECTIONS.count("select")
    return accepted


@router.post("/courses/{course_id}/drops", status_code=202, summary="Give up a place (the waitlist moves up)")
@access.account_kind("student", "parent", note="the student, or a guardian for their child")
async def drop(course_id: CourseId, body: PlaceIn, who: CallerDep, courses: Courses) -> dict[str, Any]:
    accepted = await courses.request(course_id, who, body.student_id, "drop", utcnow())
    SELECTIONS.count("drop")
    return accepted


@router.get("/course-requests/{request_id}", summary="The outcome of a place request")
@access.signed_in(note="the requester or the student only; anyone else learns 404")
async def outcome(request_id: RequestId, who: CallerDep, courses: Courses) -> dict[str, Any]:
    return await courses.outcome(request_id, who.id)


@router.get("/courses/{course_id}/roster", summary="Seats and waitlist of a course")
@access.role(*access.ADMINS, target="resource.school", note="admins covering the course's school")
async def roster(course_id: CourseId, who: CallerDep, courses: Courses) -> dict[str, Any]:
    doc = await courses.course(course_id)
    if not who.principal.has_role(*access.ADMINS, org=doc["school_id"]):
        raise Forbidden("Requires an admin role covering the school.", code="not_school_admin")
    return await courses.roster(course_id)
