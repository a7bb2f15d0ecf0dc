"""The request metrics of ``ObservabilityMiddleware``: each answer counted under its route template and status, its
latency observed (the metric children are looked up once per (method, route, status) and kept)."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import REGISTRY

from common.observability import ObservabilityMiddleware

pytestmark = pytest.mark.unit


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_every_answer_is_counted_under_its_template_and_status() -> None:
    app = FastAPI()

    @app.get("/things/{thing_id}")
    async def thing(thing_id: int) -> dict[str, int]:
        return {"id": thing_id}

    app.add_middleware(ObservabilityMiddleware, service="metrics-test")
    ok = {"service": "metrics-test", "method": "GET", "route": "/things/{thing_id}"}
    before_ok, before_bad = (
        sample("http_requests_total", **ok, status="200"),
        sample("http_requests_total", **ok, status="422"),
    )
    before_latency = sample("http_request_duration_seconds_count", **ok)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        for path in ("/things/1", "/things/2", "/things/x", "/things/3"):
            await client.get(path)
    assert sample("http_requests_total", **ok, status="200") - before_ok == 3
    assert sample("http_requests_total", **ok, status="422") - before_bad == 1
    assert sample("http_request_duration_seconds_count", **ok) - before_latency == 4
