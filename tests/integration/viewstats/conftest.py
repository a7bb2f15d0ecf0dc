import os
import sys
import uuid
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from pymongo import AsyncMongoClient

from common.messaging import decode, kafka_client_options
from tests.integration.common.tokens import AUD, ISS, Tokens  # noqa: F401 (the tests import them from here)
from viewstats.settings import ViewstatsSettings

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def tokens() -> Tokens:
    return Tokens()


async def _partitions(bootstrap: str, topic: str) -> list[TopicPartition]:
    producer = AIOKafkaProducer(**kafka_client_options())  # its partitions_for() waits for the metadata
    await producer.start()
    try:
        return [TopicPartition(topic, p) for p in sorted(await producer.partitions_for(topic))]
    finally:
        await producer.stop()


async def end_offsets(bootstrap: str, topic: str) -> dict[TopicPartition, int]:
    consumer = AIOKafkaConsumer(**kafka_client_options())
    await consumer.start()
    try:
        return await consumer.end_offsets(await _partitions(bootstrap, topic))
    finally:
        await consumer.stop()


async def caught_up(bootstrap: str, group: str, topic: str) -> bool:
    """Whether ``group`` committed every record of ``topic`` that exists now (Kafka's view, no store read)."""
    consumer = AIOKafkaConsumer(**kafka_client_options(), group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        tps = await _partitions(bootstrap, topic)
        ends = await consumer.end_offsets(tps)
        for tp in tps:
            if ends[tp] and (await consumer.committed(tp) or 0) < ends[tp]:
                return False
        return True
    finally:
        await consumer.stop()


async def records_since(bootstrap: str, starts: dict[TopicPartition, int], decoded: bool = True) -> list:
    """Every record of the topic from ``starts`` up to the end offsets of now (decoded CloudEvents or raw)."""
    consumer = AIOKafkaConsumer(**kafka_client_options(), enable_auto_commit=False)
    await consumer.start()
    try:
        tps = list(starts)
        ends = await consumer.end_offsets(tps)
        consumer.assign(tps)
        for tp in tps:
            consumer.seek(tp, starts[tp])
        out = []
        remaining = {tp for tp in tps if ends[tp] > starts[tp]}
        while remaining:
            for tp, records in (await consumer.getmany(timeout_ms=1000)).items():
                out += [decode(r) if decoded else r for r in records if r.offset < ends[tp]]
                if records and records[-1].offset >= ends[tp] - 1:
                    remaining.discard(tp)
        return out
    finally:
        await consumer.stop()


def settings_for(scratch: dict, **overrides) -> ViewstatsSettings:
    """Settings of an in-process viewstats on the scratch topic, group prefix and database."""
    defaults = {
        "kafka_bootstrap_servers": scratch["bootstrap"],
        "mongodb_url": scratch["mongodb_url"],
        "kafka_client_prefix": f"test-{scratch['tag']}-",
        "mongodb_database_prefix": scratch["prefix"],
        "views_topic": scratch["topic"],
        "partitions": 4,
        "log_json": False,
    }
    return ViewstatsSettings(**(defaults | overrides))


@pytest.fixture
async def scratch(kafka_bootstrap, mongodb_url):
    """A private views topic, consumer-group prefix and database; all removed afterwards."""
    tag = uuid.uuid4().hex[:8]
    topic = f"test.viewstats.views.{tag}"
    admin = AIOKafkaAdminClient(**kafka_client_options())
    await admin.start()
    await admin.create_topics([NewTopic(topic, 4, 1)])
    mongo = AsyncMongoClient(mongodb_url, tz_aware=True)
    prefix = f"test_{tag}_"
    db_name = f"{prefix}viewstats"  # the chassis' rule: <MONGODB_DATABASE_PREFIX><service>
    env = {
        **os.environ,
        "PYTHONPATH": f"{ROOT / 'libs'}:{ROOT / 'services'}",
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "MONGODB_URL": mongodb_url,
        "KAFKA_CLIENT_PREFIX": f"test-{tag}-",
        "MONGODB_DATABASE_PREFIX": prefix,
        "VIEWSTATS_VIEWS_TOPIC": topic,
        "VIEWSTATS_PARTITIONS": "4",
    }
    producer = AIOKafkaProducer(**kafka_client_options(), enable_idempotence=True, linger_ms=5)
    await producer.start()
    try:
        yield {
            "topic": topic,
            "db": mongo[db_name],
            "prefix": prefix,
            "env": env,
            "producer": producer,
            "tag": tag,
            "group": f"test-{tag}-viewstats-aggregator",
            "python": sys.executable,
            "root": ROOT,
            "bootstrap": kafka_bootstrap,
            "mongodb_url": mongodb_url,
        }
    finally:
        await producer.stop()
        await mongo.drop_database(db_name)
        await mongo.close()
        await admin.delete_topics([topic])
        await admin.close()


async def list_resources(scratch: dict, *resource_ids: str) -> None:
    """Record resources as the catalog consumer does on their ResourcePublished (``LearningStore.list_resources``):
    only their views are counted per resource (``viewstats.listing``)."""
    from datetime import UTC, datetime

    from common.store import insert_new

    await insert_new(scratch["db"].resources, [{"_id": r, "at": datetime.now(UTC)} for r in resource_ids])
