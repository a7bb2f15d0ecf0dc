"""HTTP routes of check-ins (打卡) and labour stars (劳动之星). HTTP only: the rules are in
``classgroups.handlers.checkins`` (access) and ``classgroups.domain`` (check-ins, media)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from classgroups import access as rel
from classgroups.api.deps import ACCOUNT_ID, CLASS_ID, CallerDep
from classgroups.handlers import checkins as handlers
from classgroups.handlers.checkins import utcnow
from common import access
from common.direct_route import DirectRoute
from common.observability import BusinessFigure

router = APIRouter(prefix="/v1/classes/{class_id}", tags=["check-ins"])

Caller = CallerDep
ClassId = Annotated[str, Path(pattern=CLASS_ID)]
Id = Annotated[str, Path(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.:-]+$")]
StudentId = Annotated[str, Path(pattern=ACCOUNT_ID)]
AccountId = Annotated[str, Field(pattern=ACCOUNT_ID)]
ResourceId = Annotated[str, Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9_.:-]+$")]


async def service(request: Request) -> handlers.Checkins:
    # async: FastAPI runs a plain ``def`` dependency in a worker thread, a thread hop on every request
    return request.app.state.checkins


Checkins = Annotated[handlers.Checkins, Depends(service)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ScheduleIn(Strict):
    kind: Literal["daily", "weekdays", "dates"]
    starts_on: date
    ends_on: date
    dates: list[date] = Field(default_factory=list, max_length=366)


class EvidenceIn(Strict):
    text: bool = Field(True, description="A text is required.")
    photos: int = Field(0, ge=0, le=9, description="Photos required (at least).")
    video: bool = Field(False, description="A video is required.")


class TaskIn(Strict):
    title: str = Field(min_length=1, max_length=100)
    instructions: str = Field("", max_length=4000)
    schedule: ScheduleIn
    evidence: EvidenceIn = Field(default_factory=EvidenceIn)
    late_days: int = Field(2, ge=0, le=7, description="Days after a scheduled day during which it may be late.")
    labour: bool = Field(False, description="A labour-education (劳动教育) task: counts toward labour stars.")
    resource_id: ResourceId | None = Field(
        None, description="A catalog resource to link (e.g. a labour-education lesson)."
    )


class TaskOut(BaseModel):
    task_id: str
    class_id: str
    teacher_id: str
    title: str
    instructions: str
    schedule: dict[str, Any]
    evidence: dict[str, Any]
    late_days: int
    labour: bool
    resource_id: str | None
    created_at: datetime


def _task_out(doc: dict[str, Any]) -> TaskOut:
    return TaskOut(task_id=doc["_id"], **{k: v for k, v in doc.items() if k != "_id"})


class UploadIn(Strict):
    student_id: AccountId | None = Field(None, description="The child a parent uploads for (default: the caller).")
    kind: Literal["photo", "video"]
    content_type: str = Field(max_length=100)
    size: int = Field(gt=0, description="Bytes the client will upload (the policy allows up to the kind's limit).")


class UploadOut(BaseModel):
    key: str
    url: str = Field(description="POST a multipart form here: `fields`, then the file as `file`.")
    fields: dict[str, str]
    max_bytes: int
    expires_in: int


class MediaIn(Strict):
    key: str = Field(min_length=1, max_length=300)
    kind: Literal["photo", "video"]
    content_type: str = Field(max_length=100)


class SubmissionIn(Strict):
    student_id: AccountId | None = Field(None, description="The child a parent submits for (default: the caller).")
    day: date = Field(description="The Beijing calendar day checked in for.")
    text: str = Field("", max_length=2000)
    media: list[MediaIn] = Field(default_factory=list, max_length=10)


class ReviewIn(Strict):
    action: Literal["comment", "like", "excellent", "redo"]
    comment: str = Field("", max_length=1000)


def _out(doc: dict[str, Any], name: str) -> dict[str, Any]:
    out = {k: v for k, v in doc.items() if k not in ("_id", "outbox")}
    return {name: doc["_id"], **out}


TEACHER = "a teacher of the class (head teacher, subject teacher, online class owner)"
MEMBER = "anyone in the class: its teachers, admins covering its school, its students, their guardians"
SELF_OR_CHILD = "a student of the class for themself, or a guardian for their child in the class"
TEACHERS = (rel.HEAD, rel.TEACHER, rel.OWNER)
READERS = (rel.ADMIN, rel.HEAD, rel.TEACHER, rel.OWNER, rel.MEMBER, rel.GUARDIAN)
SUBMITTERS = (rel.MEMBER, rel.GUARDIAN)
CHECKINS = BusinessFigure(
    "classgroups_checkins_submitted_total",
    "Check-ins submitted (打卡), by a student for themself or a parent for their child",
    "submitted_by",
    ("student", "parent"),
)
TARGET = "path.class_id"


@access.relation(*SUBMITTERS, target=TARGET, note=SELF_OR_CHILD)
async def submit(class_id: ClassId, task_id: Id, body: SubmissionIn, who: Caller, request: Request) -> dict[str, Any]:
    # The handlers straight from the app, not through the ``Checkins`` dependency: on the service's busiest route
    # FastAPI's solving of each dependency is a share of the request's CPU (``docs/BENCHMARKS.md``).
    checkins: handlers.Checkins = request.app.state.checkins
    doc = await checkins.submissions.submit(class_id, task_id, who, body.model_dump(), utcnow())
    CHECKINS.count("parent" if body.student_id not in (None, who.id) else "student")
    return _out(doc, "submission_id")


# The service's busiest route: matched first, and a well-formed request is answered without FastAPI's generic
# request handling (``common.direct_route``; anything else, e.g. an invalid field, gets FastAPI's own handler).
router.add_api_route(
    "/checkin-tasks/{task_id}/submissions",
    submit,
    methods=["POST"],
    status_code=201,
    summary="Check in for a day",
    route_class_override=DirectRoute,
)


@router.post("/checkin-tasks", status_code=201, response_model=TaskOut, summary="Create a check-in task")
@access.relation(*TEACHERS, target=TARGET, note=TEACHER)
async def create_task(class_id: ClassId, body: TaskIn, who: Caller, checkins: Checkins) -> TaskOut:
    return _task_out(await checkins.tasks.create_task(class_id, who, body.model_dump(), utcnow()))


@router.get("/checkin-tasks", response_model=list[TaskOut], summary="The class's check-in tasks")
@access.relation(*READERS, target=TARGET, note=MEMBER)
async def list_tasks(class_id: ClassId, who: Caller, checkins: Checkins) -> list[TaskOut]:
    return [_task_out(d) for d in await checkins.tasks.tasks(class_id, who)]


@router.get("/checkin-tasks/{task_id}", response_model=TaskOut, summary="A check-in task")
@access.relation(*READERS, target=TARGET, note=MEMBER)
async def get_task(class_id: ClassId, task_id: Id, who: Caller, checkins: Checkins) -> TaskOut:
    return _task_out(await checkins.tasks.task(class_id, task_id, who))


@router.post(
    "/checkin-tasks/{task_id}/uploads", status_code=201, response_model=UploadOut, summary="Presign a media upload"
)
@access.relation(*SUBMITTERS, target=TARGET, note=SELF_OR_CHILD)
async def presign_upload(class_id: ClassId, task_id: Id, body: UploadIn, who: Caller, checkins: Checkins) -> UploadOut:
    got = await checkins.uploads.presign(
        class_id, task_id, who, body.student_id, body.kind, body.content_type, body.size
    )
    return UploadOut(**got)


@router.get("/checkin-tasks/{task_id}/submissions", summary="Submissions (a student's own, a parent's child's)")
@access.relation(*READERS, target=TARGET, note=MEMBER + "; students and guardians see only their own")
async def list_submissions(
    class_id: ClassId,
    task_id: Id,
    who: Caller,
    checkins: Checkins,
    student_id: Annotated[str | None, Query(max_length=80)] = None,
    day: date | None = None,
) -> list[dict[str, Any]]:
    found = await checkins.submissions.submissions(class_id, task_id, who, student_id, day)
    return [_out(d, "submission_id") for d in found]


@router.post(
    "/checkin-tasks/{task_id}/submissions/{submission_id}/reviews", status_code=201, summary="Review a submission"
)
@access.relation(*TEACHERS, target=TARGET, note=TEACHER)
async def review(
    class_id: ClassId, task_id: Id, submission_id: Id, body: ReviewIn, who: Caller, checkins: Checkins
) -> dict[str, Any]:
    doc = await checkins.reviews.review(class_id, task_id, submission_id, who, body.action, body.comment, utcnow())
    return _out(doc, "review_id")


@router.get("/checkin-tasks/{task_id}/progress/{student_id}", summary="A student's days and streak")
@access.relation(*READERS, target=TARGET, note=MEMBER + "; a student only their own, a guardian their child's")
async def progress(
    class_id: ClassId, task_id: Id, student_id: StudentId, who: Caller, checkins: Checkins
) -> dict[str, Any]:
    return await checkins.streaks.progress(class_id, task_id, who, student_id, utcnow())


@router.get("/checkin-tasks/{task_id}/leaderboard", summary="The class's streak leaderboard for a task")
@access.relation(*READERS, target=TARGET, note=MEMBER)
async def get_leaderboard(class_id: ClassId, task_id: Id, who: Caller, checkins: Checkins) -> list[dict[str, Any]]:
    return await checkins.streaks.leaderboard(class_id, task_id, who, utcnow())


@router.post("/labour-stars/{period}", summary="Award the labour stars of a week or month (once)")
@access.relation(*TEACHERS, target=TARGET, note=TEACHER + "; the service also awards ended periods itself")
async def award_stars(
    class_id: ClassId, period: Annotated[str, Path(pattern=r"^\d{4}-(W\d{2}|\d{2})$")], who: Caller, checkins: Checkins
) -> dict[str, Any]:
    return _out(await checkins.stars.award_stars(class_id, period, utcnow(), who), "award_id")


@router.get("/labour-stars", summary="The class's labour stars, newest first")
@access.relation(*READERS, target=TARGET, note=MEMBER)
async def list_stars(class_id: ClassId, who: Caller, checkins: Checkins) -> list[dict[str, Any]]:
    return [_out(d, "award_id") for d in await checkins.stars.stars(class_id, who)]
