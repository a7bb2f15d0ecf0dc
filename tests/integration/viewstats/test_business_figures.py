"""The views figure (``viewstats_views_counted_total``, the overview's "Views counted /s") rises by exactly the
distinct views sent through the collector's public API, as a scrape of the aggregator's ``/metrics`` reads it: a
client's retry of a batch, beacons the collector rejects and a refused request add nothing. Collector and
aggregator in-process on the real Kafka and FerretDB."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest
from asgi_lifespan import LifespanManager

from tests.integration.common.figures import Figure
from tests.integration.common.helpers import eventually
from tests.integration.viewstats.conftest import list_resources, settings_for
from viewstats.app import create_app as create_viewstats
from viewstats.collector.app import create_app as create_collector

pytestmark = pytest.mark.integration
VIEWS = "viewstats_views_counted_total"


def beacon(resource: str, **over: object) -> dict:
    return {"event_id": str(uuid.uuid4()), "resource_id": resource, "section": "course_teaching"} | over


async def test_views_counted_rise_by_the_distinct_views_only(scratch) -> None:
    settings = settings_for(scratch, flush_interval_seconds=0.2, run_learning=False)
    await list_resources(scratch, "res-figure")
    collector, stats = create_collector(settings), create_viewstats(settings)
    async with LifespanManager(collector), LifespanManager(stats):
        c = httpx.AsyncClient(transport=httpx.ASGITransport(app=collector), base_url="http://collector")
        s = httpx.AsyncClient(transport=httpx.ASGITransport(app=stats), base_url="http://stats")
        views = await Figure(s, VIEWS).mark()

        batch = [beacon("res-figure", user_id=f"u{i}") for i in range(12)]
        r = await c.post("/v1/views", json=[*batch, {"event_id": "nope"}, beacon("res-figure", section="gossip")])
        assert r.status_code == 202 and r.json()["accepted"] == 12, r.text
        assert (await c.post("/v1/views", json=batch)).status_code == 202  # the client's retry: the same ids
        assert (await c.post("/v1/views", json=beacon("unlisted", visitor_id="anon1"))).status_code == 202
        assert (await c.post("/v1/views", json=[{"event_id": "x"}])).status_code == 422
        assert (await c.post("/v1/views", json=[beacon("r")] * 1001)).status_code == 413

        async def counted() -> bool:
            return (await s.get("/v1/stats/totals")).json()["all_time"] >= 13

        await eventually(counted, timeout=60)
        await asyncio.sleep(1.0)  # the retried batch is in the topic too: a late double count would show now
        assert (await s.get("/v1/stats/totals")).json()["all_time"] == 13
        assert await views.rise() == {"": 13}
