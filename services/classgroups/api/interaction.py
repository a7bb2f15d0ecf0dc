"""Routes of classroom interaction (课堂互动): roll call and quick polls, administrative classes."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from classgroups.api.deps import CLASS_ID, CallerDep, handlers
from classgroups.domain.interaction import MAX_OPTIONS, Poll
from common import access

router = APIRouter(prefix="/v1", tags=["classroom interaction"])
ClassId = Annotated[str, Path(pattern=CLASS_ID)]
PollId = Annotated[str, Path(pattern=r"^poll-[0-9a-f]{16}$")]


class NewPoll(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: str = Field(min_length=1, max_length=200)
    options: list[Annotated[str, Field(min_length=1, max_length=60)]] = Field(min_length=2, max_length=MAX_OPTIONS)
    multiple: bool = Field(False, description="Several options may be chosen.")
    anonymous: bool = Field(False, description="Nobody, not even the store, knows who chose what.")


class Ballot(BaseModel):
    model_config = ConfigDict(extra="forbid")

    choices: list[Annotated[int, Field(ge=0, lt=MAX_OPTIONS)]] = Field(min_length=1, max_length=MAX_OPTIONS)


def view(p: Poll, results: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": p.id,
        "class_id": p.class_id,
        "question": p.question,
        "options": list(p.options),
        "multiple": p.multiple,
        "anonymous": p.anonymous,
        "open": p.open,
        "opened_at": p.at.isoformat(),
    }
    if results is not None:
        out["results"] = results
    return out


@router.post("/classes/{class_id}/roll-calls", summary="Call a random present student (no repeats in a round)")
@access.relation("teacher", target="path.class_id")
async def roll_call(class_id: ClassId, caller: CallerDep, request: Request) -> dict[str, Any]:
    return await handlers(request).interaction.roll_call(caller, class_id)


@router.post("/classes/{class_id}/polls", status_code=201, summary="Open a quick poll")
@access.relation("teacher", target="path.class_id")
async def open_poll(class_id: ClassId, body: NewPoll, caller: CallerDep, request: Request) -> dict[str, Any]:
    poll = await handlers(request).interaction.open_poll(
        caller, class_id, body.question, body.options, body.multiple, body.anonymous
    )
    return view(poll)


@router.post("/classes/{class_id}/polls/{poll_id}/votes", status_code=204, summary="Vote (once)")
@access.relation("member", target="path.class_id", note="a student of the class")
async def vote(class_id: ClassId, poll_id: PollId, body: Ballot, caller: CallerDep, request: Request) -> Response:
    await handlers(request).interaction.vote(caller, class_id, poll_id, body.choices)
    return Response(status_code=204)


@router.get("/classes/{class_id}/polls/{poll_id}", summary="The poll and its results (live while open)")
@access.relation("teacher", "member", target="path.class_id")
async def results(class_id: ClassId, poll_id: PollId, caller: CallerDep, request: Request) -> dict[str, Any]:
    poll, counted = await handlers(request).interaction.results(caller, class_id, poll_id)
    return view(poll, counted)


@router.post("/classes/{class_id}/polls/{poll_id}/close", summary="Close the poll (results final)")
@access.relation("teacher", target="path.class_id")
async def close(class_id: ClassId, poll_id: PollId, caller: CallerDep, request: Request) -> dict[str, Any]:
    return view(await handlers(request).interaction.close(caller, class_id, poll_id))
