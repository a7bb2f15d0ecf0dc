"""HTTP of the collector: ``POST /v1/views`` (anonymous beacons, parsed by hand for speed: ``domain.beacon``, its
schema documented from the same rules) and ``POST /v1/heartbeats`` (teachers' watch time)."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from common import access
from common.auth import Principal, require_role
from common.network import forwarded_client_ip
from common.observability import BusinessFigure
from common.problems import Problem
from viewstats.collector.service import Collector
from viewstats.domain.beacon import UUID_RE, views_request_schema

TEACHER = "teacher"  # identity grants it only after real-name verification (identity.domain.orgs.TEACHER)
BEACONS = BusinessFigure(
    "viewstats_beacons_accepted_total",
    "Beacons the collector put on Kafka: view (one per beacon of a batch; a client's retry is counted again here "
    "and removed by the aggregator, see viewstats_views_counted_total) and heartbeat (teachers' watch time)",
    "kind",
    ("view", "heartbeat"),
)


class HeartbeatIn(BaseModel):
    event_id: str = Field(pattern=UUID_RE.pattern.removesuffix(r"\Z"))
    resource_id: str = Field(pattern=r"^[A-Za-z0-9_\-]{1,64}$")
    seconds: int = Field(ge=1, le=300)


def build_router(collector: Collector) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["collector"])

    def client_ip(request: Request) -> str | None:
        return forwarded_client_ip(request, collector.settings.trusted_proxy_hops)

    @router.post(
        "/views",
        status_code=202,
        summary="Record one view beacon or a batch of up to 1,000",
        responses={202: {"description": "Accepted; `rejected` lists bad items by index"}},
        # The body is parsed by hand for speed (domain.beacon); its schema is documented from the same rules.
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {"schema": views_request_schema(collector.settings.collector_max_batch)}
                },
            }
        },
    )
    @access.public(note="anonymous view beacons")
    async def post_views(request: Request) -> Response:
        ip = client_ip(request)
        client = collector.admit(ip)
        try:
            items = _beacons_of(await request.body(), collector.settings.collector_max_batch)
        except Problem:
            # A refused request costs its sender a token too: garbage must not be free to send without limit.
            collector.charge(client, 1)
            raise
        collector.charge(client, len(items))
        accepted, rejected = await collector.views(items, ip)
        if not accepted:
            raise Problem(
                422,
                "No valid beacon",
                f"All {len(items)} beacons were rejected.",
                code="validation-failed",
                errors=[
                    {"field": f"views.{r['index']}.{r['field']}", "message": r["reason"], "code": "invalid"}
                    for r in rejected
                ],
            )
        BEACONS.count("view", accepted)
        return Response(
            orjson.dumps({"accepted": accepted, "rejected": rejected}), status_code=202, media_type="application/json"
        )

    async def limited(request: Request) -> None:
        collector.charge(collector.admit(client_ip(request)), 1)

    @router.post(
        "/heartbeats",
        status_code=202,
        summary="Record watch time of the signed-in teacher (learning hours, 学时)",
        dependencies=[Depends(limited)],
    )
    @access.role(TEACHER, note="watch time of the signed-in teacher (learning hours are for teachers)")
    async def post_heartbeat(
        beat: HeartbeatIn, who: Principal = Depends(require_role(TEACHER, any_scope=True))
    ) -> dict[str, Any]:
        await collector.heartbeat(who.subject, beat.resource_id, beat.seconds, beat.event_id.lower())
        BEACONS.count("heartbeat")
        return {"accepted": 1}

    return router


def _beacons_of(body: bytes, max_batch: int) -> list[Any]:
    """The request's beacons: one object, an array, or ``{"views": [...]}``; a problem for anything else."""
    try:
        parsed = orjson.loads(body)  # its size is bounded by the chassis (body_limits)
    except orjson.JSONDecodeError:
        raise Problem(400, "Malformed JSON", code="malformed-json") from None
    items = parsed.get("views") if isinstance(parsed, dict) and "views" in parsed else parsed
    if isinstance(items, dict):
        items = [items]
    if not isinstance(items, list) or not items:
        raise Problem(422, "No beacons", 'Send a beacon object, an array, or {"views": [...]}.', code="no-beacons")
    if len(items) > max_batch:
        raise Problem(413, "Batch too large", f"At most {max_batch} beacons per request.", code="batch-too-large")
    return items
