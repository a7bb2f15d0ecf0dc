"""HTTP API of the recommender. Students see only their own answers, notebook and recommendations (the routes
take no user id: the token's subject is the user); a teacher sees figures of the classes they teach only (from class
groups' events). Every GET here is served from memory: no route reads the store."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from common import access
from common.auth import Principal, require_principal
from common.errors import Forbidden
from common.observability import BusinessFigure
from recommender.behaviour import BehaviourService
from recommender.domain.candidates import Candidate
from recommender.domain.exercises import Response
from recommender.domain.profile import Profile
from recommender.service import LearningService

router = APIRouter(prefix="/v1", tags=["recommender"])
SignedIn = Annotated[Principal, Depends(require_principal)]
ANSWERS = BusinessFigure(
    "recommender_answers_graded_total",
    "Answers graded at submission, correct or wrong (a client's retry of a submission is answered again, counted once)",
    "result",
    ("correct", "wrong"),
)
SERVED = BusinessFigure(
    "recommender_recommendations_served_total",
    "Recommended resources served, by list: for_me (personal push), similar, popular",
    "list",
    ("for_me", "similar", "popular"),
)
Limit = Annotated[int, Query(ge=1, le=50)]


def learning(request: Request) -> LearningService:
    return request.app.state.learning


def behaviour(request: Request) -> BehaviourService:
    return request.app.state.behaviour


def _require_kind(who: Principal, *kinds: str) -> None:
    if who.kind not in kinds:
        raise Forbidden(f"for {' and '.join(kinds)} accounts", code="account-kind")


class Submission(BaseModel):
    submission_id: str = Field(
        min_length=8,
        max_length=64,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="The client's id of this submission (a UUID): a retry with the same id is answered once.",
    )
    answers: list[Response] = Field(min_length=1, max_length=50, description="One answer, or a homework batch.")


@router.post("/me/answers", summary="Submit answers (one or a homework batch); objective items graded at once")
@access.account_kind("student")
async def submit_answers(request: Request, body: Submission, who: SignedIn) -> dict[str, Any]:
    _require_kind(who, "student")
    graded, fresh = await learning(request).submit(who, body.submission_id, body.answers)
    for result in graded["results"] if fresh else ():  # a client's retry is answered again, not graded again
        ANSWERS.count("correct" if result["correct"] else "wrong")
    return graded


@router.get("/me/notebook", summary="My mistake notebook (错题本) with mastery and similar exercises")
@access.account_kind("student")
async def my_notebook(request: Request, who: SignedIn) -> dict[str, Any]:
    _require_kind(who, "student")
    return learning(request).notebook(who)


@router.get("/teachers/me/missed-knowledge-points", summary="Most-missed knowledge points of my classes' students")
@access.account_kind("teacher", note="scoped to the classes the teacher teaches, from class groups' events")
async def most_missed(
    request: Request,
    who: SignedIn,
    class_id: Annotated[str | None, Query(max_length=200, description="One of my classes (default: all)")] = None,
    limit: Limit = 10,
) -> dict[str, Any]:
    _require_kind(who, "teacher")
    return learning(request).most_missed(who, class_id, limit)


@router.get("/me/profile", response_model=Profile, summary="My learning profile")
@access.signed_in()
async def my_profile(request: Request, who: SignedIn) -> Profile:
    return behaviour(request).profile(who)


@router.put("/me/profile", response_model=Profile, summary="Set my grade, textbook versions, subjects, province")
@access.signed_in()
async def set_profile(request: Request, body: Profile, who: SignedIn) -> Profile:
    return await behaviour(request).set_profile(who, body)


@router.get("/me/recommendations", summary="Recommendations for me, each with its reason")
@access.signed_in()
async def my_recommendations(request: Request, who: SignedIn, limit: Limit = 10) -> dict[str, Any]:
    page = await behaviour(request).for_me(who, limit)
    SERVED.count("for_me", len(page["items"]))
    return page


@router.get("/resources/{resource_id}/similar", summary="Similar resources: same lesson, knowledge points, co-viewed")
@access.public(note="derived from the public catalog and anonymous co-view counts")
async def similar(request: Request, resource_id: str, limit: Limit = 10) -> dict[str, Any]:
    page = behaviour(request).similar(resource_id, limit)
    SERVED.count("similar", len(page["items"]))
    return page


@router.get("/popular", summary="Popular resources by province x grade x subject (views of the last week)")
@access.public(note="aggregate counts only")
async def popular(
    request: Request,
    province: Annotated[str | None, Query(pattern=r"^\d{2}$")] = None,
    grade: Annotated[int | None, Query(ge=1, le=12)] = None,
    subject: Annotated[str | None, Query(max_length=40)] = None,
    limit: Limit = 10,
) -> dict[str, Any]:
    page = behaviour(request).popular(province, grade, subject, limit)
    SERVED.count("popular", len(page["items"]))
    return page


@router.get("/candidates/{resource_id}", response_model=Candidate, summary="A resource in the candidate pool")
@access.public(note="mirrors the public catalog")
async def get_candidate(resource_id: str, request: Request) -> Candidate:
    return behaviour(request).candidate(resource_id)
