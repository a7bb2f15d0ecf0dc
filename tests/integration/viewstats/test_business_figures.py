"""The views figures, as a scrape of ``/metrics`` reads them: the collector's ``viewstats_beacons_accepted_total``
rises by the beacons it put on Kafka (a client's retry included, rejected beacons and refused requests not), the
aggregator's ``viewstats_views_counted_total`` (the overview's "Views counted /s") by exactly the distinct views (a
retry adds nothing); a teacher's heartbeat counts as one. Collector and aggregator in-process on the real Kafka and
FerretDB."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest
from asgi_lifespan import LifespanManager

from common.auth import install_verifier
from tests.integration.common.figures import Figure
from tests.integration.common.helpers import eventually
from tests.integration.viewstats.conftest import list_resources, settings_for
from viewstats.app import create_app as create_viewstats
from viewstats.collector.app import create_app as create_collector

pytestmark = pytest.mark.integration
VIEWS, BEACONS = "viewstats_views_counted_total", "viewstats_beacons_accepted_total"


def beacon(resource: str, **over: object) -> dict:
    return {"event_id": str(uuid.uuid4()), "resource_id": resource, "section": "course_teaching"} | over


async def test_beacons_accepted_and_views_counted_rise_by_what_was_sent(scratch, tokens) -> None:
    settings = settings_for(scratch, flush_interval_seconds=0.2, run_learning=False)
    await list_resources(scratch, "res-figure")
    collector, stats = create_collector(settings), create_viewstats(settings)
    install_verifier(collector, tokens.verifier())
    async with LifespanManager(collector), LifespanManager(stats):
        c = httpx.AsyncClient(transport=httpx.ASGITransport(app=collector), base_url="http://collector")
        s = httpx.AsyncClient(transport=httpx.ASGITransport(app=stats), base_url="http://stats")
        views, beacons = await Figure(s, VIEWS).mark(), await Figure(c, BEACONS).mark()

        batch = [beacon("res-figure", user_id=f"u{i}") for i in range(12)]
        r = await c.post("/v1/views", json=[*batch, {"event_id": "nope"}, beacon("res-figure", section="gossip")])
        assert r.status_code == 202 and r.json()["accepted"] == 12, r.text
        assert (await c.post("/v1/views", json=batch)).status_code == 202  # the client's retry: the same ids
        assert (await c.post("/v1/views", json=beacon("unlisted", visitor_id="anon1"))).status_code == 202
        assert (await c.post("/v1/views", json=[{"event_id": "x"}])).status_code == 422
        assert (await c.post("/v1/views", json=[beacon("r")] * 1001)).status_code == 413
        assert (await c.post("/v1/views", content=b"{")).status_code == 400
        assert await beacons.rise() == {"view": 12 + 12 + 1}

        # a verified teacher's watch time: one heartbeat; a student's is refused, as is a malformed one
        beat = {"event_id": str(uuid.uuid4()), "resource_id": "res-figure", "seconds": 60}
        teacher = tokens.headers("u-teacher", "teacher", kind="teacher")
        assert (await c.post("/v1/heartbeats", json=beat, headers=teacher)).status_code == 202
        student = tokens.headers("u-student", "student", kind="student")
        assert (await c.post("/v1/heartbeats", json=beat, headers=student)).status_code == 403
        assert (await c.post("/v1/heartbeats", json=beat | {"seconds": 0}, headers=teacher)).status_code == 422
        assert await beacons.rise() == {"view": 25, "heartbeat": 1}

        async def counted() -> bool:
            return (await s.get("/v1/stats/totals")).json()["all_time"] >= 13

        await eventually(counted, timeout=60)
        await asyncio.sleep(1.0)  # the retried batch is in the topic too: a late double count would show now
        assert (await s.get("/v1/stats/totals")).json()["all_time"] == 13
        assert await views.rise() == {"": 13}
