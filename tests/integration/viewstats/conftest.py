import os
import sys
import uuid
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from pymongo import AsyncMongoClient

BOOTSTRAP = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
MONGO = os.environ.get("MONGODB_URL", "mongodb://127.0.0.1:27017")
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
async def scratch():
    """A private views topic, consumer-group prefix and database; all removed afterwards."""
    tag = uuid.uuid4().hex[:8]
    topic = f"test.viewstats.views.{tag}"
    admin = AIOKafkaAdminClient(bootstrap_servers=BOOTSTRAP)
    await admin.start()
    await admin.create_topics([NewTopic(topic, 4, 1)])
    mongo = AsyncMongoClient(MONGO)
    db_name = f"test_viewstats_{tag}"
    env = {
        **os.environ,
        "PYTHONPATH": f"{ROOT / 'libs'}:{ROOT / 'services'}",
        "KAFKA_BOOTSTRAP_SERVERS": BOOTSTRAP,
        "MONGODB_URL": MONGO,
        "KAFKA_CLIENT_PREFIX": f"test-{tag}-",
        "VIEWSTATS_VIEWS_TOPIC": topic,
        "VIEWSTATS_DATABASE": db_name,
        "VIEWSTATS_PARTITIONS": "4",
    }
    producer = AIOKafkaProducer(bootstrap_servers=BOOTSTRAP, enable_idempotence=True, linger_ms=5)
    await producer.start()
    try:
        yield {
            "topic": topic,
            "db": mongo[db_name],
            "env": env,
            "producer": producer,
            "tag": tag,
            "group": f"test-{tag}-viewstats-aggregator",
            "python": sys.executable,
            "root": ROOT,
            "bootstrap": BOOTSTRAP,
        }
    finally:
        await producer.stop()
        await mongo.drop_database(db_name)
        await mongo.close()
        await admin.delete_topics([topic])
        await admin.close()
