"""Events on Kafka: the envelope, a publisher, and consumers that lose nothing.

On the wire (CloudEvents 1.0, Kafka protocol binding, binary mode, built and read by ``common.kafka``, which also
builds every Kafka client): the record value is the event's JSON, the ``content-type`` header is
``application/json``, every other attribute is a ``ce_<name>`` header, the record key is the aggregate id, and the
W3C ``traceparent`` header carries the trace.

Consumers (``ServiceKit.consumer``) give at-least-once delivery with these rules:
- the offset is committed only after the handler returned (FastStream ``AckPolicy.NACK_ON_ERROR``: an error
  that escapes rewinds the partition so the records are read again);
- every record is validated against its event type's model (the JSON Schema in ``contracts/schemas``); one that
  does not match, or cannot be parsed as a declared event, goes straight to the group's dead-letter topic with
  the reason (``dlq_error``: which field, what is wrong); properties the model does not know are ignored;
- a handler that raises is retried with exponential backoff ``CONSUMER_MAX_ATTEMPTS`` times, then the
  record goes to the dead-letter topic (a failing batch is first split, so only the bad records go);
- an outage of the store, of Kafka or of an outside system the handler delivers to (``DependencyUnavailable``)
  is not the message's fault: it is retried without limit and the
  record is never dead-lettered, so nothing is lost while the store is down;
- dead letters keep the original bytes and headers, plus ``dlq_error``, ``dlq_source_topic``,
  ``dlq_source_partition``, ``dlq_source_offset`` and ``dlq_consumer_group``.
Handlers must therefore be idempotent: a crash between the store write and the commit replays the batch.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiokafka import ConsumerRecord
from aiokafka.errors import KafkaConnectionError, KafkaError, KafkaTimeoutError, NodeNotReadyError
from faststream.kafka import KafkaBroker
from opentelemetry import trace
from opentelemetry.trace import Link, SpanKind
from pydantic import ValidationError

from common.contracts import EVENT_TYPES, Event
from common.kafka import (  # noqa: F401 - the clients' builders are re-exported for the services' imports
    MalformedMessage,
    as_record_headers,
    broker_producer,
    ce_attributes,
    ce_headers,
    ce_time,
    kafka_broker,
    kafka_client_options,
    text_headers,
)
from common.observability import (
    EVENTS_PUBLISHED,
    MESSAGES_CONSUMED,
    MESSAGES_DEAD_LETTERED,
    MESSAGES_FAILED,
    PRODUCER_ERRORS,
    extract_trace_context,
    header_items,
    inject_trace_headers,
)
from common.store import STORE_UNAVAILABLE

log = logging.getLogger("common.messaging")


class DependencyUnavailable(Exception):
    """An outside system a handler delivers to (a Learning Record Store, ...) is down or asks us to wait: like an
    outage of the store or Kafka it is not the record's fault, so it is retried without limit (with backoff) and
    never dead-lettered; the offset is committed only once the handler succeeded."""


INFRA_UNAVAILABLE = (
    *STORE_UNAVAILABLE,
    KafkaConnectionError,
    KafkaTimeoutError,
    NodeNotReadyError,
    DependencyUnavailable,
)


# --- the envelope ----------------------------------------------------------------------------------------
def encode(
    event: Event,
    source: str,
    *,
    event_id: str | None = None,
    time: datetime | None = None,
    extra_headers: dict[str, str] | None = None,
) -> tuple[bytes, dict[str, str]]:
    """The record value and headers of one event in CloudEvents binary mode (``common.kafka.ce_headers``)."""
    headers = ce_headers(event.TYPE, source, event_id or str(uuid.uuid4()), ce_time(time), event.subject())
    if extra_headers:
        headers.update(extra_headers)
    inject_trace_headers(headers)
    return event.model_dump_json().encode(), headers


@dataclass(frozen=True, slots=True)
class Envelope:
    """One consumed event with its CloudEvents attributes and where it came from."""

    event: Event
    id: str
    type: str
    source: str
    time: datetime
    subject: str | None
    key: str | None
    topic: str
    partition: int
    offset: int
    headers: dict[str, str]


def strict_headers(record: ConsumerRecord) -> dict[str, str]:
    """The record's headers as text (``common.kafka.text_headers``)."""
    return text_headers(record.headers)


def record_key(record: ConsumerRecord) -> str | None:
    """The record key as text (the aggregate id); one that is not UTF-8 makes the record malformed."""
    if not record.key:
        return None
    try:
        return record.key.decode()
    except UnicodeDecodeError as exc:
        raise MalformedMessage(f"record key is not UTF-8: {exc}") from None


def decode(record: ConsumerRecord) -> Envelope:
    """The record as an envelope, or :class:`MalformedMessage` for anything that is not one (the only exception
    it raises: whatever the bytes, the caller dead-letters the record and the partition moves on)."""
    headers = strict_headers(record)
    attributes = ce_attributes(headers)
    model = EVENT_TYPES.get(attributes.type)
    if model is None:
        raise MalformedMessage(f"unknown event type {attributes.type!r}")
    if record.value is None:
        raise MalformedMessage("empty body")
    key = record_key(record)
    try:
        # A property this reader does not know is one a later revision of the same vN added (the only change the
        # compatibility gate lets a vN make, common.compatibility): ignored here, so readers deploy after writers.
        event = model.model_validate_json(record.value, extra="ignore")
    except ValidationError as exc:
        detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:10])
        raise MalformedMessage(f"body does not match {model.TYPE}: {detail}") from None
    return Envelope(
        event=event,
        id=attributes.id,
        type=attributes.type,
        source=attributes.source,
        time=attributes.time or datetime.now(UTC),
        subject=attributes.subject,
        key=key,
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        headers=headers,
    )


def _text_headers(record: ConsumerRecord) -> ConsumerRecord:
    copy = dataclasses.replace(
        record, headers=[(k, (v or b"").decode("utf-8", "replace").encode()) for k, v in record.headers or ()]
    )
    if hasattr(record, "consumer"):  # FastStream acknowledges through the consumer it set on the record
        copy.consumer = record.consumer  # type: ignore[attr-defined]
    return copy


async def parse_any_record(msg: Any, original: Callable[[Any], Awaitable[Any]]) -> Any:
    """FastStream's parser for the chassis's subscribers. FastStream decodes every header value as UTF-8 before a
    handler runs: a value that is not (or a null one) raised there, outside :func:`decode`, and the partition stalled
    on the record. Such a record is parsed from a copy with readable headers; the handler still gets the original
    bytes (``raw_message``), which :func:`decode` dead-letters."""
    try:
        return await original(msg)
    except (UnicodeDecodeError, AttributeError):
        parsed = await original(tuple(map(_text_headers, msg)) if isinstance(msg, tuple) else _text_headers(msg))
        parsed.raw_message = msg
        return parsed


async def leave_undecoded(msg: Any) -> None:
    """FastStream's decoder for the chassis's subscribers: none. Its own parses a JSON body before the handler and
    raised on one that was not JSON; :func:`decode` reads the raw records itself."""
    return None


# --- publishing ------------------------------------------------------------------------------------------
class EventPublisher:
    """Publishes contract events through the service's idempotent producer (acks=all).

    The records go straight to the aiokafka producer under the service's FastStream broker
    (:func:`common.kafka.broker_producer`: the same client, so the same idempotence, acks and batching), not
    through FastStream's ``publish``: per event that built a command object, ran FastStream's publish middleware
    chain and its codec, two thirds of the outbox relay's CPU on class groups' check-ins (``docs/BENCHMARKS.md``).
    A record is what it was: the event's JSON, its CloudEvents attributes as binary-mode headers, the trace
    context (``traceparent``), the aggregate id as key. FastStream's own ``correlation_id`` header, a random id
    per record that nothing here reads, is no longer added."""

    def __init__(self, broker: KafkaBroker, service: str) -> None:
        self.broker = broker
        self.service = service
        self.source = f"/services/{service}"

    async def publish(self, event: Event, *, event_id: str | None = None) -> None:
        await self.publish_many([event], event_ids=[event_id] if event_id else None)

    async def publish_many(self, events: Sequence[Event], *, event_ids: Sequence[str] | None = None) -> None:
        """Send all, then wait for every acknowledgement: one round trip for the lot, not one per event.
        Raises if any was not acknowledged (the caller keeps its outbox entry and retries)."""
        producer = broker_producer(self.broker)
        futures = []
        for i, event in enumerate(events):
            body, headers = encode(event, self.source, event_id=event_ids[i] if event_ids else None)
            try:
                futures.append(
                    await producer.send(event.TOPIC, body, key=event.key().encode(), headers=as_record_headers(headers))
                )
            except KafkaError:
                PRODUCER_ERRORS.labels(self.service, event.TOPIC).inc()
                raise
        results = await asyncio.gather(*futures, return_exceptions=True)
        for event, result in zip(events, results, strict=True):
            if isinstance(result, BaseException):
                PRODUCER_ERRORS.labels(self.service, event.TOPIC).inc()
            else:
                EVENTS_PUBLISHED.labels(self.service, event.TOPIC, event.TYPE).inc()
        for result in results:
            if isinstance(result, BaseException):
                raise result


# --- consuming -------------------------------------------------------------------------------------------
Handler = Callable[[Envelope], Awaitable[None]]
BatchHandler = Callable[[list[Envelope]], Awaitable[None]]


class ConsumerStopping(Exception):
    """Raised inside a retry loop when the service is stopping: the batch is left uncommitted."""


class DeadLetters:
    """A consumer group's dead-letter topic (``<group>.dlq``): the original bytes, with the error and the source in
    ``dlq_*`` headers. Consumers outside ``ConsumerRunner`` (the view aggregator) park records here too."""

    def __init__(self, broker: KafkaBroker, *, service: str, group: str, topic: str) -> None:
        self.broker, self.service, self.group, self.topic = broker, service, group, topic

    async def park(self, record: ConsumerRecord, error: str) -> None:
        """If even this fails, the error escapes and the record's offset is not committed: it is read again."""
        # FastStream sends text headers: a value that is not UTF-8 (maybe why the record is here) keeps its readable
        # part, with U+FFFD for the rest; the body and the key are kept byte for byte.
        headers = header_items(record.headers or ())
        headers.update(
            {
                "dlq_error": error[:2000],
                "dlq_source_topic": record.topic,
                "dlq_source_partition": str(record.partition),
                "dlq_source_offset": str(record.offset),
                "dlq_consumer_group": self.group,
            }
        )
        await self.broker.publish(record.value or b"", topic=self.topic, key=record.key, headers=headers)
        MESSAGES_DEAD_LETTERED.labels(self.service, self.group, record.topic).inc()


class ConsumerRunner:
    """Runs one handler for one consumer group with the delivery rules in the module docstring."""

    def __init__(
        self,
        *,
        service: str,
        group: str,
        dead_letter_topic: str,
        broker: KafkaBroker,
        handler: Handler | BatchHandler,
        batch: bool,
        max_attempts: int,
        backoff: float,
        is_stopping: Callable[[], bool],
    ) -> None:
        self.service = service
        self.group = group
        self.broker = broker
        self.handler = handler
        self.batch = batch
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.is_stopping = is_stopping
        self.tracer = trace.get_tracer(f"smartedu.{service}.consumer")
        self.dead_letters = DeadLetters(broker, service=service, group=group, topic=dead_letter_topic)

    async def handle_records(self, records: Sequence[ConsumerRecord]) -> None:
        envelopes: list[Envelope] = []
        for record in records:
            try:
                envelopes.append(decode(record))
            except Exception as exc:  # decoding has no I/O: whatever fails here fails again on every reread
                error = str(exc) if isinstance(exc, MalformedMessage) else f"undecodable: {type(exc).__name__}: {exc}"
                MESSAGES_FAILED.labels(self.service, self.group, record.topic, "malformed").inc()
                log.warning("malformed record %s[%d]@%d: %s", record.topic, record.partition, record.offset, error)
                await self.dead_letters.park(record, error)
        if not envelopes:
            return
        with self._span(envelopes):
            if await self._attempt(envelopes):
                return
            # The whole lot keeps failing: find the records at fault, one by one, and let the rest through.
            if len(envelopes) > 1:
                for envelope in envelopes:
                    if not await self._attempt([envelope]):
                        await self.dead_letters.park(self._record_of(envelope, records), self._last_error)
            else:
                await self.dead_letters.park(self._record_of(envelopes[0], records), self._last_error)

    _last_error = ""

    async def _attempt(self, envelopes: list[Envelope]) -> bool:
        """Runs the handler until it succeeds (True) or fails ``max_attempts`` times (False). Outages of the
        store or Kafka do not count as attempts: they are retried until they end or the service stops."""
        attempt, delay = 0, self.backoff
        topic = envelopes[0].topic
        while True:
            if self.is_stopping():
                raise ConsumerStopping(self.group)
            try:
                if self.batch:
                    await self.handler(envelopes)  # type: ignore[arg-type]
                else:
                    for envelope in envelopes:
                        await self.handler(envelope)  # type: ignore[arg-type]
            except INFRA_UNAVAILABLE as exc:
                MESSAGES_FAILED.labels(self.service, self.group, topic, "unavailable").inc()
                log.warning("%s: store or Kafka unavailable (%s), retrying in %.1fs", self.group, exc, delay)
            except Exception as exc:
                attempt += 1
                MESSAGES_FAILED.labels(self.service, self.group, topic, "handler_error").inc()
                self._last_error = f"{type(exc).__name__}: {exc}"
                log.warning(
                    "%s: handler failed (attempt %d/%d): %s",
                    self.group,
                    attempt,
                    self.max_attempts,
                    self._last_error,
                    exc_info=attempt == self.max_attempts,
                )
                if attempt >= self.max_attempts:
                    return False
            else:
                MESSAGES_CONSUMED.labels(self.service, self.group, topic).inc(len(envelopes))
                return True
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    @staticmethod
    def _record_of(envelope: Envelope, records: Sequence[ConsumerRecord]) -> ConsumerRecord:
        for record in records:
            if record.partition == envelope.partition and record.offset == envelope.offset:
                return record
        raise LookupError(envelope.offset)

    def _span(self, envelopes: list[Envelope]) -> Any:
        """One span per delivery. A single event continues its producer's trace; a batch links to the
        traces of (up to 32 of) its events, as the OpenTelemetry messaging conventions suggest."""
        first = envelopes[0]
        attrs = {
            "messaging.system": "kafka",
            "messaging.destination.name": first.topic,
            "messaging.consumer.group.name": self.group,
            "messaging.batch.message_count": len(envelopes),
        }
        if len(envelopes) == 1:
            return self.tracer.start_as_current_span(
                f"process {first.topic}",
                context=extract_trace_context(first.headers),
                kind=SpanKind.CONSUMER,
                attributes={**attrs, "messaging.message.id": first.id, "cloudevents.event_type": first.type},
            )
        links = []
        for envelope in envelopes[:32]:
            ctx = trace.get_current_span(extract_trace_context(envelope.headers)).get_span_context()
            if ctx.is_valid:
                links.append(Link(ctx))
        return self.tracer.start_as_current_span(
            f"process {first.topic}", kind=SpanKind.CONSUMER, links=links, attributes=attrs
        )
