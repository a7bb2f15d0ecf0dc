"""HTTP API of the catalog's exercise items (习题). The public view never has the answer key or explanation."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from catalog.api import EditorOrReviewer, Reason, actor_of
from catalog.domain.exercise import ExerciseContent
from catalog.domain.resource import MINISTRY_ADMIN, REVIEWER
from catalog.exercises import ExerciseBank
from common import access
from common.auth import Principal

router = APIRouter(prefix="/v1", tags=["exercises"])


def bank(request: Request) -> ExerciseBank:
    return request.app.state.exercises


class PublishExercise(BaseModel):
    external_id: str = Field(min_length=1, max_length=200, description="The provider's own id: a retry is safe.")
    provider_id: str = Field(min_length=1, max_length=200)
    content: ExerciseContent


@router.post("/exercises", status_code=201, summary="Publish an exercise (the provider's reviewers)")
@access.role(REVIEWER, MINISTRY_ADMIN, target="body.provider_id")
async def publish_exercise(
    request: Request, body: PublishExercise, who: Principal = EditorOrReviewer
) -> dict[str, Any]:
    snap = await bank(request).publish(actor_of(who), body.provider_id, body.external_id, body.content)
    return {"id": snap["id"], "version": snap["version"], "state": "published"}


@router.put("/exercises/{eid}", summary="Edit an exercise (publishes version N+1)")
@access.role(REVIEWER, MINISTRY_ADMIN, target="resource.provider")
async def edit_exercise(
    request: Request, eid: str, content: ExerciseContent, who: Principal = EditorOrReviewer
) -> dict[str, Any]:
    snap = await bank(request).edit(actor_of(who), eid, content)
    return {"id": snap["id"], "version": snap["version"], "state": "published"}


@router.post("/exercises/{eid}/withdraw", summary="Withdraw an exercise with a reason")
@access.role(REVIEWER, MINISTRY_ADMIN, target="resource.provider")
async def withdraw_exercise(request: Request, eid: str, body: Reason, who: Principal = EditorOrReviewer) -> dict:
    return await bank(request).withdraw(actor_of(who), eid, body.reason)


@router.get("/exercises/{eid}", summary="An exercise as students see it (no answer key, no explanation)")
@access.public()
async def get_exercise(request: Request, eid: str) -> dict[str, Any]:
    return await bank(request).public(eid)
