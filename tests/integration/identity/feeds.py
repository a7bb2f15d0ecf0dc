"""Helpers of the subscriber feed tests: platform events published as the services would, a feed read with the
subscriber's own login, the feed router in-process on identity's database."""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from asgi_lifespan import LifespanManager

from common.contracts import classgroups, viewstats
from common.contracts.base import Event
from common.kafka import as_record_headers
from common.messaging import encode, kafka_client_options
from identity.feeds.app import create_app as create_router
from identity.feeds.reader import partitions_of
from identity.settings import IdentitySettings
from tests.conftest import KAFKA_CREDENTIALS, ensure_group_acls
from tests.integration.common.helpers import published

HUNAN_SCHOOL = "cn/43/4301/430102/school-430102001"


async def publish(*events: Event, source: str = "/services/test") -> list[str]:
    """The events on their platform topics (as admin), acknowledged; their ce_ids."""
    producer = AIOKafkaProducer(**kafka_client_options(), enable_idempotence=True)
    await producer.start()
    ids = []
    try:
        for e in events:
            body, headers = encode(e, source)
            ids.append(headers["ce_id"])
            await producer.send_and_wait(e.TOPIC, body, key=e.key().encode(), headers=as_record_headers(headers))
    finally:
        await producer.stop()
    return ids


def login_of(username: str, password: str) -> dict[str, Any]:
    options = kafka_client_options()
    if "sasl_mechanism" in options:
        options |= {"sasl_plain_username": username, "sasl_plain_password": password}
    return options


async def read_feed(topic: str, username: str, password: str, *, at_least: int, timeout: float = 30) -> list[dict]:  # noqa: ASYNC109
    """Every record of ``topic`` read as ``username`` (no group), once at least ``at_least`` are there."""
    consumer = AIOKafkaConsumer(**login_of(username, password), enable_auto_commit=False)
    await consumer.start()
    out: list[dict] = []
    try:
        parts = [TopicPartition(topic, p) for p in await partitions_of(consumer, topic)]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        deadline = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < deadline:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                for r in records:
                    headers = {k: v.decode() for k, v in r.headers}
                    out.append({"key": r.key, "headers": headers, "data": orjson.loads(r.value)})
            if len(out) >= at_least:
                ends = await consumer.end_offsets(parts)
                if all([await consumer.position(tp) >= ends[tp] for tp in parts]):
                    break
    finally:
        await consumer.stop()
    return out


@contextlib.asynccontextmanager
async def running_router(run: str, router_type: Any = None, **overrides: Any) -> AsyncIterator[Any]:
    """The feed router in-process, on the identity database of test run ``run`` (running_identity's)."""
    settings = IdentitySettings(
        mongodb_database_prefix=f"test_identity_{run}_",
        kafka_client_prefix=f"test-{run}-",
        feeds_refresh_seconds=0.2,
        **overrides,
    )
    ensure_group_acls(settings.kafka_client_prefix)
    app = create_router(settings, **({"router_type": router_type} if router_type else {}))
    async with LifespanManager(app, startup_timeout=60, shutdown_timeout=30):
        yield app


def class_events(class_id: str, student: str, teacher: str, n: int = 1) -> list[Event]:
    now = datetime.now(UTC)
    created = classgroups.ClassCreated(
        class_id=class_id,
        occurred_at=now,
        kind="administrative",
        school=HUNAN_SCHOOL,
        school_year=2026,
        grade=5,
        owner_id=None,
        created_by=teacher,
    )
    reviews = [
        classgroups.CheckinReviewed(
            submission_id=f"sub-{uuid.uuid4().hex[:8]}",
            task_id="task-1",
            class_id=class_id,
            student_id=student,
            reviewer_id=teacher,
            action="like",
            reviewed_at=now,
        )
        for _ in range(n)
    ]
    return [created, *reviews]


def credited(user_id: str) -> viewstats.LearningCredited:
    rid = f"res-{uuid.uuid4().hex[:8]}"
    return viewstats.LearningCredited(
        credit_id=f"{user_id}:{rid}",
        user_id=user_id,
        resource_id=rid,
        hours=2.0,
        year=2026,
        certificate_id=f"cert-{uuid.uuid4().hex[:8]}",
        credited_at=datetime.now(UTC),
    )


def local(channel: str | None):
    e = published()
    return e.model_copy(update={"resource": e.resource.model_copy(update={"local_channel": channel})})


def kafka_secured_here() -> bool:
    return os.environ.get("KAFKA_SECURITY_PROTOCOL", "PLAINTEXT") != "PLAINTEXT" and KAFKA_CREDENTIALS.exists()


async def caught_up(app: Any) -> bool:
    """The router in ``app`` routed (and committed) everything its topics held when it was asked."""
    consumer = app.state.router.consumer
    parts = list(consumer.assignment())
    if not parts:
        return False
    ends = await consumer.end_offsets(parts)
    committed = {tp: await consumer.committed(tp) for tp in parts}
    return all((committed[tp] or 0) >= ends[tp] for tp in parts)
