"""The chassis's publisher sends its records straight to the aiokafka producer under the FastStream broker
(``common.kafka.broker_producer``): what a record holds, and the attribute path into FastStream, pinned."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from aiokafka import ConsumerRecord
from aiokafka.errors import KafkaTimeoutError
from faststream.exceptions import IncorrectState
from faststream.kafka.publisher.state import RealProducer
from opentelemetry.trace import SpanKind

from common.contracts.catalog import ResourceWithdrawn
from common.kafka import broker_producer, kafka_broker
from common.messaging import EventPublisher, decode
from common.observability import setup_tracing, tracer
from common.settings import ServiceSettings

pytestmark = pytest.mark.unit


def withdrawn(resource_id: str = "res-1") -> ResourceWithdrawn:
    return ResourceWithdrawn(
        resource_id=resource_id, version=3, reason="outdated", withdrawn_at=datetime.now(UTC), cursor="c-1"
    )


class FakeProducer:
    """What aiokafka's ``send`` is given; each send's acknowledgement is a future the test settles."""

    def __init__(self, fail: BaseException | None = None) -> None:
        self.sent: list[dict] = []
        self.fail = fail

    async def send(self, topic, value=None, key=None, partition=None, timestamp_ms=None, headers=None):
        self.sent.append({"topic": topic, "value": value, "key": key, "headers": headers})
        ack: asyncio.Future = asyncio.get_running_loop().create_future()
        if self.fail is None:
            ack.set_result(None)
        else:
            ack.set_exception(self.fail)
        return ack


def connected(producer: FakeProducer):
    broker = kafka_broker(ServiceSettings(kafka_bootstrap_servers="127.0.0.1:1"))
    broker.config.producer._producer = RealProducer(producer)  # what FastStream's connect() sets
    return broker


def test_before_the_broker_connects_the_producer_is_fastreams_incorrect_state() -> None:
    broker = kafka_broker(ServiceSettings(kafka_bootstrap_servers="127.0.0.1:1"))
    with pytest.raises(IncorrectState):
        broker_producer(broker)


def test_the_producer_of_a_connected_broker() -> None:
    producer = FakeProducer()
    assert broker_producer(connected(producer)) is producer


async def test_records_are_cloudevents_in_binary_mode_with_the_trace_and_the_key() -> None:
    setup_tracing("test")
    producer = FakeProducer()
    publisher = EventPublisher(connected(producer), "catalog")
    events = [withdrawn("res-1"), withdrawn("res-2")]
    with tracer("test").start_as_current_span("POST /x", kind=SpanKind.SERVER) as span:
        await publisher.publish_many(events, event_ids=["id-1", "id-2"])
    assert [s["topic"] for s in producer.sent] == ["catalog.resources.v1"] * 2
    assert [s["key"] for s in producer.sent] == [b"res-1", b"res-2"]
    for sent, event, event_id in zip(producer.sent, events, ["id-1", "id-2"], strict=True):
        assert all(isinstance(k, str) and isinstance(v, bytes) for k, v in sent["headers"])
        headers = {k: v.decode() for k, v in sent["headers"]}
        assert headers["ce_id"] == event_id
        assert headers["ce_source"] == "/services/catalog"
        assert headers["content-type"] == "application/json"
        assert headers["traceparent"].split("-")[1] == f"{span.get_span_context().trace_id:032x}"
        record = ConsumerRecord(
            "catalog.resources.v1", 0, 0, 0, 0, sent["key"], sent["value"], None, 0, 0, tuple(sent["headers"])
        )
        assert decode(record).event == event


async def test_an_event_not_acknowledged_raises() -> None:
    publisher = EventPublisher(connected(FakeProducer(fail=KafkaTimeoutError())), "catalog")
    with pytest.raises(KafkaTimeoutError):
        await publisher.publish_many([withdrawn()])
