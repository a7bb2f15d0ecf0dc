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
from pymongo import AsyncMongoClient

from common.service import ServiceKit
from common.settings import ServiceSettings
from tests.conftest import ROOT, free_port

from .helpers import eventually, published

pytestmark = pytest.mark.integration


@pytest.fixture
async def publisher(kafka_bootstrap, mongodb_url):
    kit = ServiceKit("catalog", ServiceSettings(kafka_bootstrap_servers=kafka_bootstrap, mongodb_url=mongodb_url))
    await kit.broker.connect()
    yield kit.publisher
    await kit.broker.stop()


async def test_sigkill_mid_batch_loses_nothing(service_process, publisher, run_id, mongodb_url) -> None:
    n = 4000
    # A fresh consumer group of its own, so it starts at this test's events (plus whatever the topic holds).
    prefix = f"test-{run_id}-kill-"
    db_prefix = f"test_{run_id}_kill_"
    rec = service_process(
        "recommender.app:create_app", free_port(), KAFKA_CLIENT_PREFIX=prefix, MONGODB_DATABASE_PREFIX=db_prefix
    ).start()
    events = [published() for _ in range(n)]
    ids = [e.resource.id for e in events]
    for i in range(0, n, 500):
        await publisher.publish_many(events[i : i + 500])
    store = AsyncMongoClient(mongodb_url)
    candidates = store[f"{db_prefix}recommender"]["candidates"]

    async def ours_stored() -> int:
        docs = await candidates.find({"_id": {"$in": ids}}, {"_id": 1}).to_list()
        return len(docs)

    # Kill while it is part-way through our events: some stored, not all.
    await eventually(lambda: _between(ours_stored, 1, n - 1), timeout=600, every=0.05)
    rec.kill(signal.SIGKILL)
    stored_at_kill = await ours_stored()
    assert stored_at_kill < n
    rec.start()
    await eventually(lambda: _equals(ours_stored, n), timeout=600)
    await store.close()


async def _between(count, low: int, high: int) -> bool:
    return low <= await count() <= high


async def _equals(count, n: int) -> bool:
    return await count() == n


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
