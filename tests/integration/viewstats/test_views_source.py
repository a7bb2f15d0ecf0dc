"""The views topic a database counts (``viewstats.domain.source``), on the real Kafka and FerretDB: an aggregator
given another topic, or the same topic recreated, counts nothing (before the check, a second topic's views were all
skipped as replays of the first's offsets) and loses nothing: its partitions stay paused until an operator runs
``python -m viewstats.rebase --confirm``, then every waiting view is counted once."""

import asyncio
import logging
import subprocess
import sys
import uuid
from contextlib import AsyncExitStack

import httpx
import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from asgi_lifespan import LifespanManager
from prometheus_client import REGISTRY

from common.messaging import kafka_client_options
from tests.integration.common.helpers import eventually
from tests.integration.viewstats.conftest import settings_for
from viewstats.aggregator.clients import topic_id
from viewstats.app import create_app as create_viewstats
from viewstats.collector.app import create_app as create_collector

pytestmark = pytest.mark.integration


def beacons(n: int) -> dict:
    views = [
        {"event_id": str(uuid.uuid4()), "resource_id": "r1", "section": "course_teaching", "user_id": f"u{i}"}
        for i in range(n)
    ]
    return {"views": views}


class Viewstats:
    """The collector and viewstats (with its aggregator) of one views topic, in-process."""

    def __init__(self, scratch: dict, topic: str) -> None:
        self.settings = settings_for(scratch, views_topic=topic, flush_interval_seconds=0.2, run_learning=False)
        self.collector, self.stats = create_collector(self.settings), create_viewstats(self.settings)
        self._stack = AsyncExitStack()

    async def __aenter__(self) -> "Viewstats":
        await self._stack.enter_async_context(LifespanManager(self.collector))
        await self._stack.enter_async_context(LifespanManager(self.stats))
        self.c = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.collector), base_url="http://collector")
        self.s = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.stats), base_url="http://stats")
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._stack.aclose()

    async def post(self, n: int) -> None:
        r = await self.c.post("/v1/views", json=beacons(n))
        assert r.status_code == 202 and r.json()["accepted"] == n, r.text

    async def all_time(self) -> int:
        return (await self.s.get("/v1/stats/totals")).json()["all_time"]

    async def foreign(self) -> float | None:
        return REGISTRY.get_sample_value("viewstats_aggregator_foreign_topic")


class Logged(logging.Handler):
    """The aggregator's log lines (the chassis configures logging at each start, past pytest's capture)."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


@pytest.fixture
def aggregator_log():
    handler = Logged()
    logging.getLogger("viewstats.aggregator").addHandler(handler)
    yield handler
    logging.getLogger("viewstats.aggregator").removeHandler(handler)


def rebase_cli(scratch: dict, topic: str, *args: str) -> subprocess.CompletedProcess:
    env = scratch["env"] | {"VIEWSTATS_VIEWS_TOPIC": topic, "LOG_JSON": "false"}
    return subprocess.run(
        [sys.executable, "-m", "viewstats.rebase", *args], env=env, capture_output=True, text=True, timeout=60
    )


async def test_a_recreated_or_other_views_topic_waits_paused_until_an_operator_adopts_it(scratch, aggregator_log):
    first = scratch["topic"]
    async with Viewstats(scratch, first) as vs:
        await vs.post(20)
        await eventually(lambda: _equals(vs.all_time(), 20), timeout=60)
        assert await vs.foreign() == 0
    source = await scratch["db"].sources.find_one({"_id": "views"})
    assert (source["topic"], source["topic_id"]) == (first, topic_id(vs.settings))

    other = f"{first}.v2"
    admin = AIOKafkaAdminClient(**kafka_client_options())
    await admin.start()
    try:
        await admin.create_topics([NewTopic(other, 4, 1)])
        async with Viewstats(scratch, other) as vs:
            await vs.post(8)
            await eventually(lambda: _equals(vs.foreign(), 1), timeout=60)
            assert "is another topic: this database counted" in aggregator_log.text
            await asyncio.sleep(2)  # a flush every 0.2 s: none counts the waiting views
            assert await vs.all_time() == 20

            shown = rebase_cli(scratch, other)
            assert shown.returncode == 3, shown.stdout + shown.stderr
            assert f"the database counted {first}" in shown.stdout
            assert await vs.all_time() == 20

            adopted = rebase_cli(scratch, other, "--confirm")
            assert adopted.returncode == 0, adopted.stdout + adopted.stderr
            # the paused aggregator checks again within 10 s and counts every waiting view, once
            await eventually(lambda: _equals(vs.all_time(), 28), timeout=60)
            assert await vs.foreign() == 0
            await vs.post(2)
            await eventually(lambda: _equals(vs.all_time(), 30), timeout=60)

        # The same name, recreated: Kafka's topic id tells it from the one counted.
        await admin.delete_topics([other])
        await _create_when_deleted(admin, other)
        aggregator_log.lines.clear()
        async with Viewstats(scratch, other) as vs:
            await vs.post(3)
            await eventually(lambda: _equals(vs.foreign(), 1), timeout=60)
            assert "was recreated: this database counted" in aggregator_log.text
            assert await vs.all_time() == 30
            assert rebase_cli(scratch, other, "--confirm").returncode == 0
            await eventually(lambda: _equals(vs.all_time(), 33), timeout=60)
            again = rebase_cli(scratch, other)
            assert again.returncode == 0 and f"the database counts {other}" in again.stdout
        async with Viewstats(scratch, other) as vs:  # a restart keeps the adopted source
            await vs.post(1)
            await eventually(lambda: _equals(vs.all_time(), 34), timeout=60)
            assert await vs.foreign() == 0
    finally:
        await admin.delete_topics([other])
        await admin.close()


async def _equals(value, expected) -> bool:
    return await value == expected


async def _create_when_deleted(admin: AIOKafkaAdminClient, topic: str) -> None:
    """Kafka deletes a topic in the background: create it again once the name is free."""
    for _ in range(100):
        try:
            await admin.create_topics([NewTopic(topic, 4, 1)])
            return
        except TopicAlreadyExistsError:
            await asyncio.sleep(0.2)
    raise AssertionError(f"{topic} was not deleted")
