"""What the router's walk costs a direct route (``common.direct_route``): the same POST, through the service
chassis's whole ASGI stack (``ServiceKit.build_app``: the problem handlers, ``ObservabilityMiddleware``, the body
limit, the ops routes ahead), with ``DirectLane`` taking it past the router, and with the lane emptied so that the
router finds it as before. Driven in process at the ASGI level (no HTTP client, no socket: what is measured is the
stack), alternating in rounds; the loop thread's CPU per request, medians of the rounds, and their ratio.

    PYTHONPATH=libs:services:. .cache/pyenv/bin/python bench/common/bench_direct_lane.py --rounds 9 --requests 4000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, ConfigDict, Field

from common import access
from common.direct_route import DirectLane, DirectRoute
from common.service import ServiceKit
from common.settings import ServiceSettings


class Media(BaseModel):
    model_config = ConfigDict(extra="forbid")
    key: str = Field(min_length=1, max_length=300)
    kind: str = Field(pattern="^(photo|video)$")
    content_type: str = Field(max_length=60)


class Submission(BaseModel):
    """The shape of a check-in submission's body."""

    model_config = ConfigDict(extra="forbid")
    day: date
    text: str = Field("", max_length=2000)
    media: list[Media] = Field(default_factory=list, max_length=9)


async def caller(request: Request) -> str:
    return request.headers.get("authorization", "").removeprefix("Bearer ")


Id = Annotated[str, Path(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9_-]+$")]


@access.public()
async def submit(class_id: Id, task_id: Id, body: Submission, who: Annotated[str, Depends(caller)]) -> dict[str, Any]:
    return {"submission_id": f"{task_id}:{who}:{body.day}", "class_id": class_id, "media": len(body.media)}


def build() -> Any:
    kit = ServiceKit("bench", ServiceSettings())
    router = APIRouter(prefix="/v1/classes/{class_id}")
    path = "/checkin-tasks/{task_id}/submissions"
    router.add_api_route(path, submit, methods=["POST"], status_code=201, route_class_override=DirectRoute)
    return kit.build_app(routers=[router], title="bench")


BODY = (
    b'{"day": "2026-12-03", "text": "swept the classroom", "media": [{"key": "checkins/t1/s1/2026-12-03/a.jpg",'
    b' "kind": "photo", "content_type": "image/jpeg"}]}'
)
HEADERS = [
    (b"host", b"svc"),
    (b"authorization", b"Bearer student-1"),
    (b"content-type", b"application/json"),
    (b"content-length", str(len(BODY)).encode()),
]
PATH_ = "/v1/classes/cls-1/checkin-tasks/task-1/submissions"


async def request(app: Any) -> int:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": PATH_,
        "raw_path": PATH_.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": HEADERS,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }
    sent = False
    status = 0

    async def receive() -> dict:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": BODY, "more_body": False}

    async def send(message: dict) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


def lane_of(app: Any) -> DirectLane:
    layer = app.middleware_stack
    while not isinstance(layer, DirectLane):
        layer = getattr(layer, "app", None) or layer.inner
    return layer


async def main(rounds: int, requests: int) -> dict:
    laned, routed = build(), build()
    for app in (laned, routed):
        for _ in range(300):  # warm-up; builds each stack
            assert await request(app) == 201
    lane_of(routed).lanes = []  # the router finds the route, as without the lane
    assert lane_of(laned).lanes
    cpu: dict[str, list[float]] = {"lane": [], "router": []}
    for _ in range(rounds):
        for name, app in (("lane", laned), ("router", routed)):
            c = time.thread_time()
            for _ in range(requests):
                await request(app)
            cpu[name].append((time.thread_time() - c) / requests * 1e6)
    med = {k: round(statistics.median(v), 1) for k, v in cpu.items()}
    return {
        "load_before": os.getloadavg()[0],
        "cpu_us_per_request": med,
        "rounds_us": {k: [round(x, 1) for x in v] for k, v in cpu.items()},
        "lane_over_router": round(med["lane"] / med["router"], 3),
        "rounds": rounds,
        "requests_per_round": requests,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--requests", type=int, default=4000)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(main(args.rounds, args.requests)), indent=2))
