"""Subscriber systems (docs/SUBSCRIBERS.md): registration and replays by a ministry admin; the HTTP feed and replays
by the subscriber itself, logged in with HTTP Basic (its id and the password it got at registration)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from aiokafka.errors import KafkaError
from confluent_kafka import KafkaException
from fastapi import APIRouter, Depends, Query
from fastapi.security import HTTPBasic, HTTPBasicCredentials
from pydantic import BaseModel, Field

from common import access
from common.auth import Principal, require_principal
from common.problems import Problem
from common.topics import feed_group_prefix
from identity.api.deps import identity
from identity.domain.subscribers import Subscriber
from identity.handlers import Identity

router = APIRouter(tags=["subscribers"])
_basic = HTTPBasic(auto_error=False, description="The subscriber id and the password shown at registration.")
ID = r"^sub-[0-9a-f]{12}$"


class NewSubscriber(BaseModel):
    name: str = Field(min_length=1, max_length=100, description="The system's name, e.g. 湖南省智慧教育平台.")
    kind: Literal["province", "research", "system"]
    event_types: list[str] = Field(min_length=1, max_length=50, description="CloudEvents types (see the guide).")
    provinces: list[str] = Field(
        default_factory=list, max_length=34, description="GB/T 2260 codes; empty: every province (national)."
    )
    pseudonymise: bool = Field(True, description="Account ids replaced by this subscriber's own pseudonyms.")
    exclude_fields: list[str] = Field(default_factory=list, max_length=20, description="Top-level fields left out.")


class ReplayAsk(BaseModel):
    since: datetime
    until: datetime
    event_types: list[str] = Field(default_factory=list, max_length=50, description="Empty: the subscription's.")
    province: str | None = Field(None, max_length=2)
    max_records: int | None = Field(None, ge=1, description="Default and cap: IDENTITY_REPLAY_MAX_RECORDS.")


def view(s: Subscriber) -> dict[str, Any]:
    return {
        "subscriber_id": s.id,
        **s.terms(),
        "kafka": {"topic": s.topic, "group_prefix": feed_group_prefix(s.id), "username": s.id},
        "http_feed": f"/v1/feeds/{s.id}/changes",
    }


async def subscriber_login(
    subscriber_id: str, creds: HTTPBasicCredentials | None = Depends(_basic), s: Identity = Depends(identity)
) -> Subscriber:
    """The subscriber named in the path, logged in as itself; anything else is 401 (no hint which part failed)."""
    found = None
    if creds is not None and creds.username == subscriber_id:
        found = await s.subscribers.authenticate(subscriber_id, creds.password)
    if found is None:
        raise Problem(
            401,
            "Subscriber login required",
            "HTTP Basic with the subscriber id and its password.",
            code="subscriber_login",
            headers={"WWW-Authenticate": 'Basic realm="feeds"'},
        )
    return found


# --- the ministry admin -------------------------------------------------------------------------------------
@router.post("/v1/subscribers", status_code=201, summary="Register a subscriber system (password shown once)")
@access.role(access.MINISTRY)
async def register(
    body: NewSubscriber, who: Principal = Depends(require_principal), s: Identity = Depends(identity)
) -> dict[str, Any]:
    try:
        subscriber, password = await s.subscribers.register(who, **body.model_dump())
    except KafkaException as exc:  # the broker away or refusing: nothing was stored, ask again
        raise Problem(503, "Kafka unavailable", "The subscriber's feed could not be set up.", code="kafka") from exc
    return view(subscriber) | {"password": password}


@router.get("/v1/subscribers", summary="The registered subscriber systems")
@access.role(access.MINISTRY)
async def list_subscribers(
    who: Principal = Depends(require_principal), s: Identity = Depends(identity)
) -> list[dict[str, Any]]:
    return [view(x) for x in await s.subscribers.all(who)]


@router.get("/v1/subscribers/{subscriber_id}", summary="One subscriber system")
@access.role(access.MINISTRY)
async def get_subscriber(
    subscriber_id: str, who: Principal = Depends(require_principal), s: Identity = Depends(identity)
) -> dict[str, Any]:
    return view(await s.subscribers.get(who, subscriber_id))


@router.post("/v1/subscribers/{subscriber_id}/deactivate", status_code=204, summary="Stop a subscriber's feed")
@access.role(access.MINISTRY)
async def deactivate(
    subscriber_id: str, who: Principal = Depends(require_principal), s: Identity = Depends(identity)
) -> None:
    await s.subscribers.deactivate(who, subscriber_id)


@router.post("/v1/subscribers/{subscriber_id}/replays", status_code=202, summary="Replay a window into a feed")
@access.role(access.MINISTRY)
async def admin_replay(
    subscriber_id: str, body: ReplayAsk, who: Principal = Depends(require_principal), s: Identity = Depends(identity)
) -> dict[str, Any]:
    subscriber = await s.subscribers.get(who, subscriber_id)
    return await s.subscribers.ask_replay(subscriber, who.subject, body.model_dump())


@router.get("/v1/subscribers/{subscriber_id}/replays/{replay_id}", summary="A replay's progress")
@access.role(access.MINISTRY)
async def admin_replay_state(
    subscriber_id: str, replay_id: str, who: Principal = Depends(require_principal), s: Identity = Depends(identity)
) -> dict[str, Any]:
    return await s.subscribers.replay(await s.subscribers.get(who, subscriber_id), replay_id)


# --- the subscriber itself ------------------------------------------------------------------------------------
@router.get("/v1/feeds/{subscriber_id}/changes", summary="The subscriber's feed over HTTP (cursor, at least once)")
@access.oauth_client(note="HTTP Basic as the subscriber named in the path; a user's token grants nothing")
async def changes(
    cursor: str | None = Query(None, max_length=4000, description="The `cursor` of the previous page; none: start."),
    limit: int = Query(100, ge=1, le=5000),
    subscriber: Subscriber = Depends(subscriber_login),
    s: Identity = Depends(identity),
) -> dict[str, Any]:
    try:
        return await s.subscribers.page(subscriber, cursor, min(limit, s.s.feed_page_max))
    except KafkaError as exc:
        raise Problem(503, "Kafka unavailable", "The feed cannot be read now; ask again.", code="kafka") from exc


@router.post("/v1/feeds/{subscriber_id}/replays", status_code=202, summary="Ask a replay of a window into my feed")
@access.oauth_client(note="HTTP Basic as the subscriber named in the path")
async def replay(
    body: ReplayAsk, subscriber: Subscriber = Depends(subscriber_login), s: Identity = Depends(identity)
) -> dict[str, Any]:
    return await s.subscribers.ask_replay(subscriber, subscriber.id, body.model_dump())


@router.get("/v1/feeds/{subscriber_id}/replays/{replay_id}", summary="My replay's progress")
@access.oauth_client(note="HTTP Basic as the subscriber named in the path")
async def replay_state(
    replay_id: str, subscriber: Subscriber = Depends(subscriber_login), s: Identity = Depends(identity)
) -> dict[str, Any]:
    return await s.subscribers.replay(subscriber, replay_id)
