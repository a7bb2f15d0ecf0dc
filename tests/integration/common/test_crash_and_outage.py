"""Crashes and outages lose nothing: a consumer killed with SIGKILL re-reads from its last commit, and a
store outage turns /readyz red without dropping the messages that arrive meanwhile."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from pymongo import AsyncMongoClient

from common.messaging import kafka_client_options
from common.service import ServiceKit
from common.settings import ServiceSettings
from common.topics import topic as declared_topic
from tests.conftest import ROOT, free_port

from .helpers import eventually, published

pytestmark = pytest.mark.integration


@pytest.fixture
async def publisher(kafka_bootstrap, mongodb_url):
    kit = ServiceKit("catalog", ServiceSettings(kafka_bootstrap_servers=kafka_bootstrap, mongodb_url=mongodb_url))
    await kit.broker.connect()
    yield kit.publisher
    await kit.broker.stop()


async def test_sigkill_mid_batch_loses_nothing(
    service_process, publisher, run_id, mongodb_url, kafka_bootstrap
) -> None:
    n = 3000
    # The subject: viewstats' catalog consumer, which records every published resource in its store (the
    # recommender's read models are in memory since issue 16, rebuilt from the topic at each start).
    topic, group = "catalog.resources.v1", f"test-{run_id}-kill-viewstats-catalog"
    # The consumer's progress is read from Kafka (its committed offsets), not by scanning the store: on FerretDB
    # every non-_id query is a full scan, and polling one would slow the very consumer under test.
    offsets = _Offsets(kafka_bootstrap, topic, group)
    await offsets.start()
    store = AsyncMongoClient(mongodb_url, timeoutMS=30_000)
    listed = store[f"test_{run_id}_kill_viewstats"]["resources"]
    try:
        # A group and database of its own. It starts at the topic's beginning, so it first replays what the topic
        # holds; this test's events come after that, and the kill must land inside them.
        rec = service_process(
            "viewstats.app:create_app",
            free_port(),
            KAFKA_CLIENT_PREFIX=f"test-{run_id}-kill-",
            MONGODB_DATABASE_PREFIX=f"test_{run_id}_kill_",
        ).start()
        before = await offsets.end()
        events = [published() for _ in range(n)]
        for i in range(0, n, 500):
            await publisher.publish_many(events[i : i + 500])
        after = await offsets.end()

        async def part_way() -> bool:
            done = await offsets.committed()
            return sum(done.values()) > sum(before.values()) and done != after

        await eventually(part_way, timeout=300, every=0.05)
        rec.kill(signal.SIGKILL)
        committed_at_kill = await offsets.committed()
        assert committed_at_kill != after, "the kill came too late to interrupt anything"
        rec.start()
        await eventually(lambda: _equals(offsets.committed, after), timeout=300, every=0.5)

        # Everything committed is stored: each of this test's resources (read in one pass over the collection).
        stored = {d["_id"] async for d in listed.find({}, {"_id": 1})}
        assert [e.resource.id for e in events if e.resource.id not in stored] == []
    finally:
        await offsets.stop()
        await store.close()


class _Offsets:
    """A consumer group's committed offsets and the topic's end offsets, as Kafka reports them."""

    def __init__(self, bootstrap: str, topic: str, group: str) -> None:
        self.topic, self.group = topic, group
        self.admin = AIOKafkaAdminClient(**kafka_client_options())
        self.consumer = AIOKafkaConsumer(**kafka_client_options(), group_id=None, enable_auto_commit=False)

    async def start(self) -> None:
        await self.admin.start()
        await self.consumer.start()
        self.partitions = [TopicPartition(self.topic, p) for p in range(declared_topic(self.topic).partitions)]

    async def end(self) -> dict[TopicPartition, int]:
        return await self.consumer.end_offsets(self.partitions)

    async def committed(self) -> dict[TopicPartition, int]:
        got = await self.admin.list_consumer_group_offsets(self.group, partitions=self.partitions)
        return {tp: (got[tp].offset if tp in got and got[tp].offset >= 0 else 0) for tp in self.partitions}

    async def stop(self) -> None:
        await self.consumer.stop()
        await self.admin.close()


async def _equals(read, expected) -> bool:
    return await read() == expected


FERRETDB = next(iter(sorted((ROOT / ".cache" / "ferretdb").glob("*/ferretdb"))), None)


def start_ferretdb(port: int, data: Path, log: Path) -> subprocess.Popen:
    data.mkdir(exist_ok=True)
    return subprocess.Popen(
        [
            str(FERRETDB),
            f"--listen-addr=127.0.0.1:{port}",
            "--debug-addr=-",
            "--telemetry=disable",
            "--handler=sqlite",
            f"--sqlite-url=file:{data}/",
            "--log-level=warn",
        ],
        stdout=open(log, "ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


@pytest.mark.skipif(FERRETDB is None, reason="needs the FerretDB binary that `make test` builds")
async def test_store_outage_turns_readyz_red_and_loses_no_message(service_process, publisher, tmp_path) -> None:
    mongo_port = free_port()
    ferret = start_ferretdb(mongo_port, tmp_path / "data", tmp_path / "ferretdb.log")
    try:
        rec = service_process(
            "recommender.app:create_app",
            free_port(),
            MONGODB_URL=f"mongodb://127.0.0.1:{mongo_port}",
            CONSUMER_BACKOFF_SECONDS="0.1",
        )
        rec.start()
        async with httpx.AsyncClient(base_url=rec.url) as http:
            # A new consumer group first replays what the topic already holds; start the outage once caught up.
            before = published()
            await publisher.publish(before)
            await eventually(lambda: _status(http, f"/v1/candidates/{before.resource.id}", 200), timeout=600)
            # The store becomes unreachable (as behind a network partition): connections hang, pings time out.
            os.killpg(ferret.pid, signal.SIGSTOP)
            await eventually(lambda: _status(http, "/readyz", 503), timeout=30)
            during_outage = published()
            await publisher.publish(during_outage)
            await asyncio.sleep(2)  # the consumer is now retrying against the missing store
            assert (await http.get("/readyz")).json()["checks"]["store"] is False
            os.killpg(ferret.pid, signal.SIGCONT)
            await eventually(lambda: _status(http, "/readyz", 200), timeout=60)
            await eventually(lambda: _status(http, f"/v1/candidates/{during_outage.resource.id}", 200), timeout=60)
    finally:
        if ferret.poll() is None:
            os.killpg(ferret.pid, signal.SIGCONT)
            os.killpg(ferret.pid, signal.SIGTERM)
            ferret.wait(timeout=30)


async def _status(http: httpx.AsyncClient, path: str, expected: int) -> bool:
    try:
        return (await http.get(path)).status_code == expected
    except httpx.HTTPError:
        return False
