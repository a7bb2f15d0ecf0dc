"""Collector → Kafka → aggregator → queries, both apps in-process on the real Kafka and FerretDB."""

import asyncio
import time
import uuid

import httpx
import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from asgi_lifespan import LifespanManager

from common.messaging import kafka_client_options
from tests.integration.viewstats.conftest import list_resources, settings_for
from viewstats.app import create_app as create_viewstats
from viewstats.collector.app import create_app as create_collector
from viewstats.domain.geo import ProvinceTable

pytestmark = pytest.mark.integration


def beacon(resource, **over):
    return {
        "event_id": str(uuid.uuid4()),
        "resource_id": resource,
        "section": "course_teaching",
        "user_id": f"u{uuid.uuid4().hex[:6]}",
    } | over


async def test_views_kafka_cannot_store_get_503_not_500(scratch, kafka_bootstrap):
    """A topic whose brokers refuse every write (here: its record batches may not exceed 100 bytes). A beacon,
    a small and a large batch (the one-batch-per-partition path) answer 503 with Retry-After as problem+json,
    never 500; the client retries with the same event ids later."""
    topic = f"{scratch['topic']}.refusing"
    admin = AIOKafkaAdminClient(**kafka_client_options())
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 2, 1, topic_configs={"max.message.bytes": "100"})])
        settings = settings_for(scratch, views_topic=topic, collector_kafka_timeout_ms=1500)
        collector = create_collector(settings)
        async with LifespanManager(collector):
            c = httpx.AsyncClient(transport=httpx.ASGITransport(app=collector), base_url="http://collector")
            for body in (beacon("r1"), [beacon("r1") for _ in range(3)], [beacon(f"r{i}") for i in range(200)]):
                r = await c.post("/v1/views", json=body)
                assert r.status_code == 503, r.text
                assert r.headers["content-type"].startswith("application/problem+json")
                assert r.headers["retry-after"] == "1" and r.json()["code"] == "kafka-unavailable"
    finally:
        await admin.delete_topics([topic])
        await admin.close()


async def test_views_flow_from_collector_to_queries(scratch):
    # the test plays one ingress: the X-Forwarded-For it sends is the client's address
    settings = settings_for(scratch, flush_interval_seconds=0.2, run_learning=False, trusted_proxy_hops=1)
    await list_resources(scratch, "res-hot", "res-cold")
    hunan_ip = ProvinceTable.load().sample_ip("43")
    collector, stats = create_collector(settings), create_viewstats(settings)
    async with LifespanManager(collector), LifespanManager(stats):
        c = httpx.AsyncClient(transport=httpx.ASGITransport(app=collector), base_url="http://collector")
        s = httpx.AsyncClient(transport=httpx.ASGITransport(app=stats), base_url="http://stats")
        hot = [beacon("res-hot") for _ in range(30)]
        batch = [*hot, beacon("res-cold"), {"event_id": "nope"}, beacon("res-cold", section="gossip")]
        r = await c.post("/v1/views", json={"views": batch}, headers={"X-Forwarded-For": hunan_ip})
        assert r.status_code == 202
        assert r.json()["accepted"] == 31
        assert [(x["index"], x["field"]) for x in r.json()["rejected"]] == [(31, "event_id"), (32, "section")]
        # the client retries the whole request: nothing more is counted
        assert (await c.post("/v1/views", json=hot, headers={"X-Forwarded-For": hunan_ip})).status_code == 202
        single = await c.post("/v1/views", json=beacon("res-cold", visitor_id="anon1", user_id=None, country="JP"))
        assert single.status_code == 202
        bad = await c.post("/v1/views", json=[{"event_id": "x"}])
        assert bad.status_code == 422 and bad.headers["content-type"].startswith("application/problem+json")
        too_many = await c.post("/v1/views", json=[beacon("r")] * 1001)
        assert too_many.status_code == 413

        deadline = time.monotonic() + 60
        while True:
            totals = (await s.get("/v1/stats/totals")).json()
            if totals["today"] >= 32 or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.3)
        await asyncio.sleep(1.0)  # a late double count would show up now
        totals = (await s.get("/v1/stats/totals")).json()
        assert totals["today"] == 32 and totals["all_time"] == 32 and totals["as_of"]
        top = (await s.get("/v1/stats/top", params={"n": 2})).json()
        assert top["resources"] == [  # listed without a title (the test's list_resources): none to show
            {"resource_id": "res-hot", "title": None, "views": 30},
            {"resource_id": "res-cold", "title": None, "views": 2},
        ]
        series = (await s.get("/v1/stats/series", params={"granularity": "m"})).json()
        assert sum(p["views"] for p in series["points"]) == 32
        assert (await s.get("/v1/stats/provinces")).status_code == 401
        assert (await s.get("/dashboard")).text.startswith("<!doctype html>")
