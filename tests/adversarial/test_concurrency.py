"""Races on the catalog's editorial state machine, across two replicas sharing the store (identity's counters
and state machines are raced in identity's own tests). A transition is appended as revision N+1 with a unique
``_id`` (FerretDB's one atomic write): whatever the interleaving, each transition happens once, the losers get
409, and the topic carries one event per transition."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import httpx
import orjson
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from common.contracts.catalog import ResourcePublished
from common.messaging import kafka_client_options
from tests.adversarial.platform import Platform
from tests.adversarial.test_authz_matrix import draft
from tests.conftest import ServiceProcess

pytestmark = [pytest.mark.adversarial, pytest.mark.timeout(300)]
RACERS = 8


@pytest.fixture(scope="module")
def replicas(platform: Platform) -> Iterator[list[str]]:
    second: ServiceProcess = platform.replica("catalog", "b").start(timeout=180)
    yield [platform.urls["catalog"], second.url]
    second.kill(15)


async def _ends(topic: str) -> dict[TopicPartition, int]:
    admin = AIOKafkaAdminClient(**kafka_client_options())
    await admin.start()
    try:
        (described,) = await admin.describe_topics([topic])
    finally:
        await admin.close()
    consumer = AIOKafkaConsumer(**kafka_client_options())
    await consumer.start()
    try:
        return await consumer.end_offsets([TopicPartition(topic, p["partition"]) for p in described["partitions"]])
    finally:
        await consumer.stop()


async def _records_since(starts: dict[TopicPartition, int]) -> list[tuple[bytes, str, str]]:
    """(key, CloudEvents id, type) of the records written after ``starts``."""
    ends = await _ends(next(iter(starts)).topic)
    pending = {tp for tp in starts if ends[tp] > starts[tp]}
    if not pending:
        return []  # (a consumer stopped with nothing assigned raises CancelledError from aiokafka)
    consumer = AIOKafkaConsumer(**kafka_client_options(), enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(list(pending))
        for tp in pending:
            consumer.seek(tp, starts[tp])
        out = []
        while pending:
            for tp, records in (await consumer.getmany(timeout_ms=1000)).items():
                out += [
                    (r.key or b"", dict(r.headers)["ce_id"].decode(), dict(r.headers)["ce_type"].decode())
                    for r in records
                    if r.offset < ends[tp]
                ]
                if records and records[-1].offset >= ends[tp] - 1:
                    pending.discard(tp)
        return out
    finally:
        await consumer.stop()


async def _events_since(
    platform: Platform, replicas: list[str], starts: dict[TopicPartition, int], key: str
) -> list[str]:
    """CloudEvents types of the distinct events keyed ``key`` written after ``starts``, once every replica's
    outbox relayed what it stored before this call: each replica publishes a sentinel resource, and a replica's
    relay sends its events in the order of its changes, so its sentinel comes after what the race made there.
    (Delivery is at-least-once: a repeat carries the same event id and counts once.)"""
    admin = platform.personas["ministry_admin"].headers
    sentinels = set()
    async with httpx.AsyncClient(timeout=60) as http:
        for url in replicas:
            r = await http.post(f"{url}/v1/resources", json=draft(), headers=admin)
            assert r.status_code == 201, r.text
            sentinel = r.json()["id"]
            for action in ("submit", "publish"):
                r = await http.post(f"{url}/v1/resources/{sentinel}/{action}", headers=admin)
                assert r.status_code == 200, r.text
            sentinels.add(sentinel.encode())
    deadline = time.monotonic() + 60
    while True:
        records = await _records_since(starts)
        relayed = {k for k, _, t in records if t == ResourcePublished.TYPE}
        if sentinels <= relayed:
            break
        assert time.monotonic() < deadline, f"the replicas' outboxes did not relay their sentinels: {records}"
        await asyncio.sleep(0.5)
    return [t for _, t in sorted({(i, t) for k, i, t in records if k == key.encode()})]


async def _race(replicas: list[str], headers: dict[str, str], requests: list[tuple[str, dict | None]]) -> list[int]:
    """Fire the requests at once, alternating between the replicas; their statuses in order."""
    async with httpx.AsyncClient(timeout=60) as http:
        await asyncio.gather(*(http.get(f"{url}/healthz") for url in replicas))  # connections open before the race
        answers = await asyncio.gather(
            *(
                http.post(f"{replicas[i % len(replicas)]}{path}", json=body, headers=headers)
                for i, (path, body) in enumerate(requests)
            )
        )
    assert all(a.status_code < 500 for a in answers), [a.text for a in answers if a.status_code >= 500]
    return [a.status_code for a in answers]


async def _working(url: str, rid: str, headers: dict[str, str]) -> dict:
    async with httpx.AsyncClient(timeout=30) as http:
        r = await http.get(f"{url}/v1/resources/{rid}/working", headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


async def _in_review(platform: Platform, replicas: list[str]) -> str:
    admin = platform.personas["ministry_admin"].headers
    async with httpx.AsyncClient(base_url=replicas[0], timeout=60) as http:
        r = await http.post("/v1/resources", json=draft(), headers=admin)
        assert r.status_code == 201, r.text
        rid = r.json()["id"]
        assert (await http.post(f"/v1/resources/{rid}/submit", headers=admin)).status_code == 200
    return rid


async def test_parallel_publishes_of_one_resource_publish_it_once(platform, replicas) -> None:
    rid = await _in_review(platform, replicas)
    starts = await _ends("catalog.resources.v1")
    reviewer = platform.personas["reviewer_in"].headers
    statuses = await _race(replicas, reviewer, [(f"/v1/resources/{rid}/publish", None)] * RACERS)
    assert sorted(statuses) == [200] + [409] * (RACERS - 1), statuses
    assert await _events_since(platform, replicas, starts, rid) == [ResourcePublished.TYPE]
    for url in replicas:  # both replicas agree on the outcome
        working = await _working(url, rid, reviewer)
        assert working["state"] == "published" and working["version"] == 1


async def test_publish_racing_reject_ends_in_exactly_one_of_them(platform, replicas) -> None:
    rid = await _in_review(platform, replicas)
    starts = await _ends("catalog.resources.v1")
    reviewer = platform.personas["reviewer_in"].headers
    requests = [
        (f"/v1/resources/{rid}/publish", None) if i % 2 else (f"/v1/resources/{rid}/reject", {"reason": "重复"})
        for i in range(RACERS)
    ]
    statuses = await _race(replicas, reviewer, requests)
    assert statuses.count(200) == 1 and statuses.count(409) == RACERS - 1, statuses
    winner = requests[statuses.index(200)][0].rsplit("/", 1)[1]
    working = await _working(replicas[1], rid, reviewer)
    assert working["state"] == {"publish": "published", "reject": "rejected"}[winner]
    published = await _events_since(platform, replicas, starts, rid)
    assert published == ([ResourcePublished.TYPE] if winner == "publish" else [])


async def test_parallel_creates_of_one_external_id_create_one_resource(platform, replicas) -> None:
    body = draft()
    editor = platform.personas["editor_in"].headers
    async with httpx.AsyncClient(timeout=60) as http:
        answers = await asyncio.gather(
            *(http.post(f"{replicas[i % 2]}/v1/resources", json=body, headers=editor) for i in range(RACERS))
        )
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [201] + [409] * (RACERS - 1), [a.text for a in answers]
    ids = {orjson.loads(a.content).get("id") or orjson.loads(a.content).get("resource_id") for a in answers}
    assert len(ids) == 1
