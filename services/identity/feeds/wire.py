"""The feed router's only contact with record bytes: a platform record parsed (:func:`parse`, through the platform's
own ``common.messaging.decode``: a record that is not a declared event raises ``MalformedMessage`` and goes to the
router's dead-letter topic), and one subscriber's feed record built (:func:`feed_record`). Schema checks added to
``decode`` apply here too."""

from __future__ import annotations

import json
from dataclasses import dataclass

from aiokafka import ConsumerRecord

from common.kafka import CONTENT_TYPE, SPEC_VERSION
from common.messaging import Envelope, decode
from identity.domain.subscribers import OFFERED, Subscriber, feed_event_id


@dataclass(frozen=True, slots=True)
class FeedRecord:
    topic: str
    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes]]


def parse(record: ConsumerRecord) -> Envelope | None:
    """The record as an envelope when its type is offered to subscribers; None for the types that are not (they
    are skipped without decoding their body). Raises ``common.kafka.MalformedMessage``."""
    for name, value in record.headers or ():
        if name == "ce_type" and value is not None and value.decode(errors="replace") not in OFFERED:
            return None
    return decode(record)


def feed_record(topic: str, subscriber: Subscriber, env: Envelope) -> FeedRecord:
    """The event as ``subscriber`` gets it. CloudEvents binary mode as on the platform's topics: ``ce_type``,
    ``ce_source``, ``ce_time`` kept; ``ce_id`` the subscriber's own stable id of the source event (redelivery and
    replay repeat it); ``ce_subject`` and the key pseudonymised like the body; the trace context stays inside."""
    data = subscriber.shape(env.event.model_dump(mode="json"))
    headers = [
        ("ce_specversion", SPEC_VERSION),
        ("ce_id", feed_event_id(subscriber.key, env.id)),
        ("ce_source", env.source),
        ("ce_type", env.type),
        ("ce_time", env.headers.get("ce_time") or env.time.isoformat().replace("+00:00", "Z")),
        ("content-type", CONTENT_TYPE),
    ]
    subject = subscriber.shape_text(env.subject)
    if subject:
        headers.append(("ce_subject", subject))
    key = subscriber.shape_text(env.key)
    return FeedRecord(
        topic,
        key.encode() if key else None,
        json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode(),
        [(k, v.encode()) for k, v in headers],
    )
