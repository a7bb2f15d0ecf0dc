"""The chassis's delivery promises, on the real Kafka and store, through a real consumer: the recommender's
candidate pool, fed by catalog's replication topic."""

from __future__ import annotations

import uuid

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from asgi_lifespan import LifespanManager
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from common.messaging import encode, kafka_client_options
from common.observability import setup_tracing, tracer
from common.service import ServiceKit
from common.settings import ServiceSettings
from recommender.app import create_app
from recommender.settings import RecommenderSettings

from .helpers import eventually, published

pytestmark = pytest.mark.integration


@pytest.fixture
async def recommender(run_id, kafka_bootstrap, mongodb_url):
    settings = RecommenderSettings(
        kafka_bootstrap_servers=kafka_bootstrap,
        mongodb_url=mongodb_url,
        kafka_client_prefix=f"test-{run_id}-",
        mongodb_database_prefix=f"test_{run_id}_",
        consumer_backoff_seconds=0.05,
    )
    app = create_app(settings)
    async with (
        LifespanManager(app, startup_timeout=60, shutdown_timeout=60),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://recommender") as c,
    ):
        await eventually(lambda: _ready(c), timeout=600)
        yield c


async def _ready(client: httpx.AsyncClient) -> bool:
    return (await client.get("/readyz")).status_code == 200


@pytest.fixture
async def catalog_publisher(run_id, kafka_bootstrap, mongodb_url):
    """Catalog's side of the wire: a ServiceKit named catalog, publishing through the chassis."""
    kit = ServiceKit("catalog", ServiceSettings(kafka_bootstrap_servers=kafka_bootstrap, mongodb_url=mongodb_url))
    await kit.broker.connect()
    yield kit.publisher
    await kit.broker.stop()


async def test_consumer_continues_the_producers_trace(recommender, catalog_publisher) -> None:
    exporter = InMemorySpanExporter()
    setup_tracing("test").add_span_processor(SimpleSpanProcessor(exporter))
    event = published()
    with tracer("test").start_as_current_span("POST /v1/resources/{id}/publish", kind=SpanKind.SERVER) as request:
        await catalog_publisher.publish(event)
    producer_ctx = request.get_span_context()

    async def found():
        return (await recommender.get(f"/v1/candidates/{event.resource.id}")).status_code == 200

    await eventually(found)

    def continues_trace(span) -> bool:
        if span.kind != SpanKind.CONSUMER or span.name != "process catalog.resources.v1":
            return False
        if span.context.trace_id == producer_ctx.trace_id:  # a delivery of one event: a child span
            return span.parent is not None and span.parent.span_id == producer_ctx.span_id
        # a batch: linked to the trace of each of its events
        return any(link.context.trace_id == producer_ctx.trace_id for link in span.links)

    assert any(continues_trace(s) for s in exporter.get_finished_spans()), [
        (s.name, s.kind) for s in exporter.get_finished_spans()
    ]


async def test_malformed_message_is_dead_lettered_and_the_next_is_handled(
    recommender, catalog_publisher, kafka_bootstrap
) -> None:
    bad_key = f"bad-{uuid.uuid4().hex}".encode()
    producer = AIOKafkaProducer(**kafka_client_options())
    await producer.start()
    try:
        sent = await producer.send_and_wait(
            "catalog.resources.v1",
            b'{"resource": "not a resource"}',
            key=bad_key,
            headers=[
                ("ce_specversion", b"1.0"),
                ("ce_id", b"x1"),
                ("ce_source", b"/test"),
                ("ce_type", b"cn.smartedu.catalog.resource.published.v1"),
            ],
        )
    finally:
        await producer.stop()
    good = published()
    await catalog_publisher.publish(good)

    async def good_handled():
        return (await recommender.get(f"/v1/candidates/{good.resource.id}")).status_code == 200

    await eventually(good_handled)

    consumer = AIOKafkaConsumer(
        "recommender-catalog.dlq",
        **kafka_client_options(),
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:

        async def dead_letter():
            for records in (await consumer.getmany(timeout_ms=500)).values():
                for r in records:
                    if r.key == bad_key:
                        return r
            return None

        letter = await eventually(dead_letter, timeout=30, every=0)
    finally:
        await consumer.stop()
    headers = {k: v.decode() for k, v in letter.headers}
    assert letter.value == b'{"resource": "not a resource"}'  # the original bytes
    assert "does not match cn.smartedu.catalog.resource.published.v1" in headers["dlq_error"]
    assert headers["dlq_source_topic"] == "catalog.resources.v1"
    assert int(headers["dlq_source_partition"]) == sent.partition
    assert int(headers["dlq_source_offset"]) == sent.offset
    assert headers["dlq_consumer_group"] == "recommender-catalog"
    assert headers["ce_id"] == "x1"  # original headers kept


async def test_every_undecodable_record_is_dead_lettered_with_its_reason_and_the_partition_moves_on(
    recommender, run_id
) -> None:
    """Whatever a record's bytes, the consumer parks it with the reason and goes on: before, a key that was not
    UTF-8 raised outside the malformed-message path, the batch was never committed, and the partition stalled."""
    good = published()
    body, headers = encode(good, "/services/catalog")
    good_headers = [(k, v.encode()) for k, v in headers.items()]
    tag = uuid.uuid4().hex[:8]
    bad = {
        "record key is not UTF-8": (b"\xff\xfe" + tag.encode(), body, good_headers),
        "a header value is not UTF-8": (
            f"bad-{tag}-h".encode(),
            body,
            [(k, b"\xff\xfe" if k == "ce_id" else v) for k, v in good_headers],
        ),
        f"body does not match {good.TYPE}": (f"bad-{tag}-b".encode(), b"not json {", good_headers),
        "missing CloudEvents header(s): ce_type": (
            f"bad-{tag}-m".encode(),
            body,
            [(k, v) for k, v in good_headers if k != "ce_type"],
        ),
        "unsupported ce_specversion": (
            f"bad-{tag}-s".encode(),
            body,
            [(k, b"0.3" if k == "ce_specversion" else v) for k, v in good_headers],
        ),
    }
    placed: dict[int, str] = {}
    producer = AIOKafkaProducer(**kafka_client_options())
    await producer.start()
    try:
        # One partition: the good record waits behind the bad ones unless each of them is dealt with.
        for reason, (key, value, hdrs) in bad.items():
            sent = await producer.send_and_wait("catalog.resources.v1", value, key=key, headers=hdrs, partition=0)
            placed[sent.offset] = reason
        await producer.send_and_wait(
            "catalog.resources.v1", body, key=good.key().encode(), headers=good_headers, partition=0
        )
    finally:
        await producer.stop()

    async def good_handled():
        return (await recommender.get(f"/v1/candidates/{good.resource.id}")).status_code == 200

    await eventually(good_handled, timeout=60)

    consumer = AIOKafkaConsumer(
        "recommender-catalog.dlq", **kafka_client_options(), auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    letters: dict[int, dict[str, str]] = {}
    try:

        async def all_parked():
            for records in (await consumer.getmany(timeout_ms=500)).values():
                for r in records:
                    h = {k: v.decode() for k, v in r.headers}
                    if h.get("dlq_source_topic") == "catalog.resources.v1" and h.get("dlq_source_partition") == "0":
                        letters[int(h["dlq_source_offset"])] = h | {"key": r.key, "value": r.value}
            return set(placed) <= set(letters)

        await eventually(all_parked, timeout=30, every=0)
    finally:
        await consumer.stop()
    for offset, reason in placed.items():
        assert reason in letters[offset]["dlq_error"], (reason, letters[offset]["dlq_error"])
        key, value, _ = bad[reason]
        assert (letters[offset]["key"], letters[offset]["value"]) == (key, value)  # the original bytes
