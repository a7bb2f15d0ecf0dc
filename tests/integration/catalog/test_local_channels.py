"""Local channels (地方频道) keyed by GB/T 2260 codes: a catalog whose store and topic still hold the former
ISO 3166-2:CN letters (hn) serves, stores and publishes codes (43) after it starts."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import orjson
import pytest
from aiokafka import TopicPartition
from pymongo import AsyncMongoClient

from catalog.domain.resource import change_cursor
from catalog.store import LOCAL_CHANNELS_GBT2260, MIGRATIONS
from common.contracts.catalog import ResourcePublished, ResourcePublishedV1
from common.kafka import as_record_headers, ce_headers, ce_time, kafka_consumer, kafka_producer
from common.topics import topic
from tests.integration.catalog.conftest import start, stop
from tests.integration.catalog.test_catalog_api import publish_new
from tests.integration.common.helpers import eventually

pytestmark = pytest.mark.integration

TOPIC = ResourcePublished.TOPIC


async def _topic_ends() -> dict[TopicPartition, int]:
    consumer = kafka_consumer(enable_auto_commit=False, group_id=None)
    await consumer.start()
    try:
        return await consumer.end_offsets([TopicPartition(TOPIC, p) for p in range(topic(TOPIC).partitions)])
    finally:
        await consumer.stop()


async def _records_of(key: str, since: dict[TopicPartition, int]) -> list[tuple[str, dict]]:
    """(ce_type, body) of the records of ``key`` written after ``since``."""
    consumer = kafka_consumer(enable_auto_commit=False, group_id=None)
    await consumer.start()
    found: list[tuple[str, dict]] = []
    try:
        consumer.assign(list(since))
        ends = await consumer.end_offsets(list(since))
        for tp, offset in since.items():
            consumer.seek(tp, offset)
        remaining = {tp for tp in since if ends[tp] > since[tp]}
        while remaining:
            for tp, records in (await consumer.getmany(*remaining, timeout_ms=500)).items():
                found += [
                    (dict(r.headers)["ce_type"].decode(), orjson.loads(r.value))
                    for r in records
                    if r.key == key.encode()
                ]
                if await consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
    finally:
        await consumer.stop()
    return found


async def _publish_v1(snapshot: dict, cursor: str) -> None:
    """A record as the catalog wrote it before GB/T 2260: type v1, local channel in letters."""
    body = orjson.dumps({"resource": snapshot, "cursor": cursor, "credit_hours": None})
    headers = ce_headers(ResourcePublishedV1.TYPE, "/services/catalog", uuid.uuid4().hex, ce_time(), snapshot["id"])
    producer = kafka_producer()
    await producer.start()
    try:
        await producer.send_and_wait(TOPIC, body, key=snapshot["id"].encode(), headers=as_record_headers(headers))
    finally:
        await producer.stop()


async def test_a_catalog_holding_former_letters_serves_stores_and_publishes_gbt2260_codes(run_id, tokens, mongodb_url):
    ends = await _topic_ends()
    first = await start(run_id, "lc-a", tokens)
    try:
        # A client still sending the former letters: accepted, mapped to the code, published as v2.
        rid = await publish_new(first.client, tokens, f"lc-{run_id}", "湖南地方频道 红色研学 迁移")
        snapshot = (await first.client.get(f"/v1/resources/{rid}")).json()
        assert snapshot["local_channel"] == "43"
    finally:
        await stop(first)
    published = await eventually(lambda: _records_of(rid, ends))
    assert [(t, body["resource"]["local_channel"]) for t, body in published] == [(ResourcePublished.TYPE, "43")]

    # What the catalog stored and published before the change: letters in every revision, a v1 record last.
    mongo = AsyncMongoClient(mongodb_url, tz_aware=True)
    db = mongo[f"test_catalog_{run_id}_catalog"]
    try:
        revisions = [d async for d in db.revisions.find({}) if d["id"] == rid]
        assert len(revisions) == 3  # created, submitted, published
        for doc in revisions:
            legacy = {"content.local_channel": "hn"}
            if "local_channel" in (doc.get("published") or {}):
                legacy["published.local_channel"] = "hn"
            await db.revisions.update_one({"_id": doc["_id"]}, {"$set": legacy})
        await db[MIGRATIONS].delete_many({})
        legacy_cursor = change_cursor(datetime.now(UTC), rid)
        await _publish_v1({**snapshot, "local_channel": "hn"}, legacy_cursor)
        ends = await _topic_ends()

        second = await start(run_id, "lc-b", tokens)
        try:
            assert (await second.client.get(f"/v1/resources/{rid}")).json()["local_channel"] == "43"

            async def migrated():
                marker = await db[MIGRATIONS].find_one({"_id": LOCAL_CHANNELS_GBT2260})
                return marker is not None and marker.get("republished")

            await eventually(migrated, timeout=120)
            # The store holds codes only, and the resource was published again: a v2 record, newer than the v1 one.
            stored = [d async for d in db.revisions.find({}) if d["id"] == rid]
            assert len(stored) == 4 and {d["content"]["local_channel"] for d in stored} == {"43"}
            assert all(d["published"].get("local_channel", "43") == "43" for d in stored if d.get("published"))
            republished = await eventually(lambda: _records_of(rid, ends))
            assert [(t, body["resource"]["local_channel"]) for t, body in republished] == [
                (ResourcePublished.TYPE, "43")
            ]
            assert republished[0][1]["cursor"] > legacy_cursor
            assert republished[0][1]["resource"] | {"local_channel": "hn"} == {**snapshot, "local_channel": "hn"}
            catalog = second.app.state.catalog
            resource, _ = await catalog.editorial.load(rid)
            assert resource.content.local_channel == "43"
            assert await catalog.store.migrate_local_channels() is None  # done: later starts skip it
        finally:
            await stop(second)

        # A subscriber still reads v1 records as the code: at start-up (the snapshot) and live.
        await _publish_v1({**snapshot, "local_channel": "hn", "title": "湖南地方频道 旧记录"}, _cursor(rid))
        third = await start(run_id, "lc-c", tokens)
        try:
            served = (await third.client.get(f"/v1/resources/{rid}")).json()
            assert (served["title"], served["local_channel"]) == ("湖南地方频道 旧记录", "43")
            await _publish_v1({**snapshot, "local_channel": "hn", "title": "湖南地方频道 又一条旧记录"}, _cursor(rid))

            async def live_applied():
                r = (await third.client.get(f"/v1/resources/{rid}")).json()
                return (r["title"], r["local_channel"]) == ("湖南地方频道 又一条旧记录", "43")

            await eventually(live_applied)
        finally:
            await stop(third)
    finally:
        await mongo.close()


def _cursor(rid: str) -> str:
    return change_cursor(datetime.now(UTC), rid)
