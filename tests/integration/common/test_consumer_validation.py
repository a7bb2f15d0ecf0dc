"""Every consumer group of every service validates what it reads against the event's model (its JSON Schema is
contracts/schemas/<type>.json): a record that does not match goes to the group's dead-letter topic with the reason,
and the group moves on (issue 17). One poison record per topic each service reads, each service running in-process
with all its consumers, as `make run` runs it."""

from __future__ import annotations

import importlib
import uuid

import httpx
import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from asgi_lifespan import LifespanManager

from common.contracts import EVENT_TYPES
from common.messaging import kafka_client_options
from common.topics import CONSUMER_GROUPS, PRINCIPALS

from .helpers import eventually

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

SERVICES = sorted({g.service for g in CONSUMER_GROUPS})
APP_MODULE = {p.name: p.factory.split(":")[0] for p in PRINCIPALS}  # e.g. identity-feeds → identity.feeds.app


def poison_for(topic: str) -> tuple[str, str, bytes]:
    """A CloudEvent of a type declared on ``topic`` whose body breaks the type's schema: a number where the schema
    wants a string or an object, and the other required properties missing. Returns (type, that field, body)."""
    event_type = min(t for t, model in EVENT_TYPES.items() if topic == model.TOPIC and not model.SUPERSEDED_BY)
    first = next(iter(EVENT_TYPES[event_type].model_fields))
    return event_type, first, orjson.dumps({first: 12345})


@pytest.mark.parametrize("service", SERVICES)
async def test_a_record_that_does_not_match_its_schema_goes_to_each_groups_dlq_with_the_reason(
    service, run_id, monkeypatch
) -> None:
    tag = uuid.uuid4().hex[:8]
    monkeypatch.setenv("KAFKA_CLIENT_PREFIX", f"test-{tag}-")
    monkeypatch.setenv("MONGODB_DATABASE_PREFIX", f"test_{tag}_")
    monkeypatch.setenv("CONSUMER_BACKOFF_SECONDS", "0.05")
    app = importlib.import_module(APP_MODULE[service]).create_app()
    groups = [g for g in CONSUMER_GROUPS if g.service == service]
    async with (
        LifespanManager(app, startup_timeout=180, shutdown_timeout=60),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=f"http://{service}") as client,
    ):

        async def ready() -> bool:
            return (await client.get("/readyz")).status_code == 200

        await eventually(ready, timeout=180)
        sent: dict[str, tuple[str, str, str, bytes]] = {}  # topic → (poison key, type, retyped field, body)
        producer = AIOKafkaProducer(**kafka_client_options())
        await producer.start()
        try:
            for topic in sorted({t for g in groups for t in g.topics}):
                event_type, field, body = poison_for(topic)
                key = f"poison-{tag}-{topic}"
                headers = [
                    ("ce_specversion", b"1.0"),
                    ("ce_id", f"poison-{uuid.uuid4()}".encode()),
                    ("ce_source", b"/tests/poison"),
                    ("ce_type", event_type.encode()),
                    ("content-type", b"application/json"),
                ]
                await producer.send_and_wait(topic, body, key=key.encode(), headers=headers)
                sent[topic] = (key, event_type, field, body)
        finally:
            await producer.stop()

        dlq = AIOKafkaConsumer(
            *(f"{g.name}.dlq" for g in groups), **kafka_client_options(), auto_offset_reset="earliest"
        )
        await dlq.start()
        letters: dict[str, dict] = {}
        keys = {key for key, *_ in sent.values()}
        try:

            async def every_group_parked_its_poison() -> bool:
                for records in (await dlq.getmany(timeout_ms=500)).values():
                    for r in records:
                        # other tests park records with keys and headers that are not UTF-8 in the same DLQs
                        if r.key and r.key.decode(errors="replace") in keys:
                            h = {k: v.decode() for k, v in r.headers}
                            letters[h["dlq_consumer_group"]] = h | {"value": r.value, "key": r.key.decode()}
                return {g.name for g in groups} <= set(letters)

            await eventually(every_group_parked_its_poison, timeout=180, every=0)
        finally:
            await dlq.stop()
    for group in groups:
        letter = letters[group.name]
        key, event_type, field, body = sent[letter["dlq_source_topic"]]
        assert letter["key"] == key and letter["value"] == body  # the original record, byte for byte
        assert letter["ce_type"] == event_type
        if group.name == "viewstats-aggregator":  # the hot path reads the fields it counts, without the model
            assert "malformed view beacon" in letter["dlq_error"], letter
        else:
            assert f"does not match {event_type}: {field}: Input should be " in letter["dlq_error"], letter
