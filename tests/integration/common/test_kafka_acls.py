"""Kafka accepts only its principals, each only for what common.topics grants it (SASL/SCRAM-SHA-512 and ACLs on
the broker deploy/local/infra.sh runs). A forged heartbeat credits study hours and so certificates; a forged catalog
event reaches every province's replica: no process but the owner may write them."""

from __future__ import annotations

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import (
    GroupAuthorizationFailedError,
    KafkaConnectionError,
    TopicAuthorizationFailedError,
)

from common.messaging import kafka_client_options
from common.settings import ServiceSettings
from common.topics import CONSUMER_GROUPS, FEED_PREFIX, FEED_ROUTER, PRINCIPALS, acls
from tests.conftest import ensure_group_acls, kafka_login, kafka_secured

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not kafka_secured(), reason="needs the SASL broker deploy/local/infra.sh runs"),
]


def login(principal: str, **overrides: str) -> dict:
    """aiokafka options of ``principal`` (its password from infra.sh's file)."""
    return kafka_client_options(ServiceSettings(**{**kafka_login(principal), **overrides}))


async def send(options: dict, topic: str) -> int:
    """Publish one record as the services do (idempotent producer); returns its offset."""
    producer = AIOKafkaProducer(**options, enable_idempotence=True, request_timeout_ms=10_000)
    try:
        await producer.start()
        return (await producer.send_and_wait(topic, b"{}", key=b"forged")).offset
    finally:
        await producer.stop()


async def read(options: dict, topic: str, group: str) -> int:
    consumer = AIOKafkaConsumer(
        topic, **options, group_id=group, auto_offset_reset="earliest", enable_auto_commit=False
    )
    try:
        await consumer.start()
        return sum(len(r) for r in (await consumer.getmany(timeout_ms=2000)).values())
    finally:
        await consumer.stop()


async def test_a_client_without_credentials_is_refused() -> None:
    plaintext = kafka_client_options(ServiceSettings(kafka_security_protocol="PLAINTEXT"))
    with pytest.raises(KafkaConnectionError):
        await send(plaintext, "viewstats.heartbeats.v1")


async def test_a_wrong_password_is_refused() -> None:
    with pytest.raises(KafkaConnectionError):
        await send(login("viewstats-collector", KAFKA_SASL_PASSWORD="not-the-password"), "viewstats.heartbeats.v1")


async def test_only_the_collector_may_publish_heartbeats() -> None:
    for principal in ("catalog", "viewstats", "identity", "recommender", "classgroups"):
        with pytest.raises(TopicAuthorizationFailedError):
            await send(login(principal), "viewstats.heartbeats.v1")
    assert await send(login("viewstats-collector"), "viewstats.heartbeats.v1") >= 0


async def test_only_the_catalog_may_publish_catalog_events() -> None:
    for principal in ("viewstats", "viewstats-collector", "identity", "recommender"):
        for topic in ("catalog.resources.v1", "catalog.editorial.v1"):
            with pytest.raises(TopicAuthorizationFailedError):
                await send(login(principal), topic)
    # The catalog's own topic takes its records (the editorial one: no consumer to mislead with an empty body).
    assert await send(login("catalog"), "catalog.editorial.v1") >= 0


async def test_a_service_reads_only_the_topics_it_consumes_in_its_own_groups(run_id) -> None:
    prefix = f"test-{run_id}-"
    ensure_group_acls(prefix)
    # Its own group on its own topic: allowed.
    assert await read(login("recommender"), "catalog.resources.v1", f"{prefix}recommender-catalog") >= 0
    # A topic it does not consume, even in its own group.
    with pytest.raises(TopicAuthorizationFailedError):
        await read(login("recommender"), "viewstats.learning.v1", f"{prefix}recommender-catalog")
    with pytest.raises(TopicAuthorizationFailedError):
        await read(login("catalog"), "identity.users.v1", f"{prefix}catalog-index-x")
    # Another service's group on a topic it may read (joining it would steal that service's partitions).
    with pytest.raises(GroupAuthorizationFailedError):
        await read(login("recommender"), "catalog.resources.v1", f"{prefix}viewstats-catalog")
    # The collector reads nothing at all.
    with pytest.raises((TopicAuthorizationFailedError, GroupAuthorizationFailedError)):
        await read(login("viewstats-collector"), "viewstats.views.v1", f"{prefix}viewstats-aggregator")


async def test_every_group_of_a_service_may_dead_letter(run_id) -> None:
    """Each consumer group's principal writes its dead-letter topic (the chassis parks malformed records there)."""
    for g in CONSUMER_GROUPS:
        assert await send(login(g.service), g.dead_letter_topic) >= 0


def test_the_acls_grant_writes_only_on_a_principals_own_topics() -> None:
    """The declarative rule itself: the only topics a principal writes are its own events and its groups' DLQs (and,
    for the feed router alone, the subscribers' feed topics)."""
    for p in PRINCIPALS:
        dlqs = {g.dead_letter_topic for g in CONSUMER_GROUPS if g.service == p.name}
        feeds = {FEED_PREFIX} if p.name == FEED_ROUTER else set()
        written = {a.name for a in acls(p) if a.resource_type == "topic" and "Write" in a.operations}
        assert written == set(p.produces) | dlqs | feeds, p.name
        assert all(t.split(".")[0] in p.name for t in p.produces), p.name


async def test_only_the_recommender_reads_the_exercise_answer_keys(run_id) -> None:
    """catalog.exercises.v1 carries answer keys: no province feed, no other service may read it, and only the
    catalog may write it (a forged key would grade every student wrong)."""
    prefix = f"test-{run_id}-"
    ensure_group_acls(prefix)
    assert await read(login("recommender"), "catalog.exercises.v1", f"{prefix}recommender-exercises.x") >= 0
    for principal, group in [
        ("catalog", "catalog-index-x"),
        ("viewstats", "viewstats-catalog"),
        ("identity", "identity-x"),
        ("classgroups", "classgroups-x"),
    ]:
        with pytest.raises((TopicAuthorizationFailedError, GroupAuthorizationFailedError)):
            await read(login(principal), "catalog.exercises.v1", f"{prefix}{group}")
    for principal in ("recommender", "viewstats", "identity", "classgroups"):
        with pytest.raises(TopicAuthorizationFailedError):
            await send(login(principal), "catalog.exercises.v1")
