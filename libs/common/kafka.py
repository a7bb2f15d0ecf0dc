"""Kafka wire code in one place: the CloudEvents headers of a record, and every Kafka client of the platform.

**Headers.** Every record is a CloudEvent in the Kafka protocol binding's binary mode: the value is the event's
JSON, ``content-type`` is ``application/json``, every other attribute is a ``ce_<name>`` header. They are built
(:func:`ce_headers`, and :class:`CeHeaders` for the hot paths that produce raw records) and read
(:func:`ce_attributes`, and :func:`ce_id_and_type` for the hot paths that read raw records) only here, so the
attribute names and the spec version are written once.

**Clients.** FastStream brokers (:func:`kafka_broker`) and the raw aiokafka clients of the hot paths and tools
(:func:`kafka_producer`, :func:`kafka_consumer`, :func:`kafka_admin`) are built only here, each with the process's
login (:func:`kafka_client_options`): none of them can connect without the process's credentials. The hot paths
(the collector's producer, the aggregator's consumer) get the plain aiokafka client, with their own tuning; the
aggregator may read with confluent-kafka instead (:func:`confluent_consumer`, same login in librdkafka's names).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from common.settings import ServiceSettings

if TYPE_CHECKING:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
    from aiokafka.admin import AIOKafkaAdminClient
    from faststream.kafka import KafkaBroker

CONTENT_TYPE = "application/json"
SPEC_VERSION = "1.0"
REQUIRED = ("ce_id", "ce_type", "ce_source", "ce_specversion")

Login = ServiceSettings | Mapping[str, Any] | None  # settings, the client options derived from them, or None


# --- CloudEvents headers -----------------------------------------------------------------------------------
def ce_time(at: datetime | None = None) -> str:
    """RFC 3339 in UTC with a ``Z`` (now when ``at`` is None)."""
    return (at or datetime.now(UTC)).isoformat().replace("+00:00", "Z")


def ce_headers(event_type: str, source: str, event_id: str, time: str, subject: str | None = None) -> dict[str, str]:
    """The text headers of one event (what a FastStream publish takes)."""
    headers = {
        "ce_specversion": SPEC_VERSION,
        "ce_id": event_id,
        "ce_source": source,
        "ce_type": event_type,
        "ce_time": time,
        "content-type": CONTENT_TYPE,
    }
    if subject:
        headers["ce_subject"] = subject
    return headers


class CeHeaders:
    """The headers of raw records of one type and source, as aiokafka takes them (name, bytes). The static part is
    encoded once: the collector builds up to 1,000 records per request."""

    __slots__ = ("_static",)

    def __init__(self, event_type: str, source: str) -> None:
        self._static = [
            ("ce_specversion", SPEC_VERSION.encode()),
            ("ce_type", event_type.encode()),
            ("ce_source", source.encode()),
            ("content-type", CONTENT_TYPE.encode()),
        ]

    def of(self, event_id: str, time: str, subject: str | None = None) -> list[tuple[str, bytes]]:
        headers = [*self._static, ("ce_id", event_id.encode()), ("ce_time", time.encode())]
        if subject:
            headers.append(("ce_subject", subject.encode()))
        return headers


def as_record_headers(headers: Mapping[str, str]) -> list[tuple[str, bytes]]:
    """Text headers (:func:`ce_headers`) as a raw aiokafka send takes them."""
    return [(k, v.encode()) for k, v in headers.items()]


class MalformedMessage(ValueError):
    """The record is not a CloudEvent of a type this platform declares, or its body does not fit the type."""


class CeAttributes(NamedTuple):
    id: str
    type: str
    source: str
    time: datetime | None  # None: the record carries no ce_time
    subject: str | None


def text_headers(raw: Iterable[tuple[str, bytes | None]] | None) -> dict[str, str]:
    """A record's headers as text; a value that is not UTF-8 makes the record malformed (CloudEvents attributes are
    UTF-8), instead of an error outside the dead-letter path that would block the partition."""
    try:
        return {k: v.decode() for k, v in raw or () if v is not None}
    except UnicodeDecodeError as exc:
        raise MalformedMessage(f"a header value is not UTF-8: {exc}") from None


def ce_attributes(headers: Mapping[str, str]) -> CeAttributes:
    """The CloudEvents attributes of a record's text headers (:func:`text_headers`), or :class:`MalformedMessage`."""
    missing = [h for h in REQUIRED if not headers.get(h)]
    if missing:
        raise MalformedMessage(f"missing CloudEvents header(s): {', '.join(missing)}")
    if headers["ce_specversion"] != SPEC_VERSION:
        raise MalformedMessage(f"unsupported ce_specversion {headers['ce_specversion']!r}")
    try:
        time = datetime.fromisoformat(headers["ce_time"]) if headers.get("ce_time") else None
    except ValueError:
        raise MalformedMessage(f"ce_time is not RFC 3339: {headers['ce_time']!r}") from None
    return CeAttributes(headers["ce_id"], headers["ce_type"], headers["ce_source"], time, headers.get("ce_subject"))


def ce_id_and_type(raw: Iterable[tuple[str, bytes | None]] | None) -> tuple[str | None, str | None]:
    """The ``ce_id`` and ``ce_type`` of a raw record, the hot path's read (no other attribute is looked at). Raises
    ``UnicodeDecodeError`` for a value that is not UTF-8: the caller treats the record as malformed."""
    h = dict(raw or ())  # built in C; the last of repeated headers wins, as in Kafka's lastHeader()
    event_id, event_type = h.get("ce_id"), h.get("ce_type")
    return (
        event_id.decode() if event_id is not None else None,
        event_type.decode() if event_type is not None else None,
    )


def ce_type_of(raw: Iterable[tuple[str, bytes | None]] | None) -> str | None:
    """The ``ce_type`` of a raw record, for readers that skip the types they do not read (bytes that are not UTF-8
    come out replaced: they name no declared type)."""
    value = dict(raw or ()).get("ce_type")
    return value.decode(errors="replace") if value is not None else None


# --- clients -----------------------------------------------------------------------------------------------
def _ssl_context(settings: ServiceSettings) -> Any:
    if settings.kafka_security_protocol != "SASL_SSL":
        return None
    from aiokafka.helpers import create_ssl_context

    return create_ssl_context(cafile=settings.kafka_ssl_cafile)


def kafka_client_options(settings: ServiceSettings | None = None) -> dict[str, Any]:
    """Keyword arguments of an aiokafka client (consumer, producer, admin): bootstrap servers and the login.
    Without ``settings``, the environment's (tests, benchmarks, tools)."""
    settings = settings or ServiceSettings()
    options: dict[str, Any] = {"bootstrap_servers": settings.kafka_bootstrap_servers}
    if settings.kafka_security_protocol == "PLAINTEXT":
        return options
    if not settings.kafka_sasl_username or settings.kafka_sasl_password is None:
        raise ValueError(
            f"KAFKA_SECURITY_PROTOCOL={settings.kafka_security_protocol} needs KAFKA_SASL_USERNAME and "
            "KAFKA_SASL_PASSWORD"
        )
    return options | {
        "security_protocol": settings.kafka_security_protocol,
        "sasl_mechanism": settings.kafka_sasl_mechanism,
        "sasl_plain_username": settings.kafka_sasl_username,
        "sasl_plain_password": settings.kafka_sasl_password.get_secret_value(),
        "ssl_context": _ssl_context(settings),
    }


def _login(login: Login) -> dict[str, Any]:
    return dict(login) if isinstance(login, Mapping) else kafka_client_options(login)


def kafka_producer(login: Login = None, **options: Any) -> AIOKafkaProducer:
    """A raw aiokafka producer (hot paths that build their own records: ``CeHeaders``)."""
    from aiokafka import AIOKafkaProducer

    return AIOKafkaProducer(**_login(login), **options)


def kafka_consumer(*topics: str, login: Login = None, **options: Any) -> AIOKafkaConsumer:
    """A raw aiokafka consumer (hot paths and start-up reads that parse records themselves: ``ce_id_and_type``)."""
    from aiokafka import AIOKafkaConsumer

    return AIOKafkaConsumer(*topics, **_login(login), **options)


def confluent_options(login: ServiceSettings | None = None) -> dict[str, Any]:
    """The same login as :func:`kafka_client_options`, in librdkafka's configuration names (confluent-kafka)."""
    client = kafka_client_options(login)
    options: dict[str, Any] = {"bootstrap.servers": client["bootstrap_servers"]}
    if "sasl_mechanism" not in client:
        return options
    options |= {
        "security.protocol": client["security_protocol"],
        "sasl.mechanism": client["sasl_mechanism"],
        "sasl.username": client["sasl_plain_username"],
        "sasl.password": client["sasl_plain_password"],
    }
    settings = login or ServiceSettings()
    if settings.kafka_ssl_cafile:
        options["ssl.ca.location"] = settings.kafka_ssl_cafile
    return options


def confluent_consumer(login: ServiceSettings | None = None, **config: Any) -> Any:
    """A confluent-kafka (librdkafka) ``Consumer``, logged in as the process's principal: the aggregator's batch
    ingest (``viewstats.aggregator.clients``) and the benchmarks' bare consumer. ``config``: librdkafka's names."""
    from confluent_kafka import Consumer

    return Consumer(confluent_options(login) | config)


def kafka_admin(login: Login = None, **options: Any) -> AIOKafkaAdminClient:
    from aiokafka.admin import AIOKafkaAdminClient

    return AIOKafkaAdminClient(**_login(login), **options)


def broker_producer(broker: KafkaBroker) -> AIOKafkaProducer:
    """The aiokafka producer a connected FastStream broker publishes with (its idempotence, acks and batching): the
    chassis's publisher sends its records straight to it, without FastStream's per-call ``publish`` (a command
    object, the publish middleware chain, the codec: two thirds of the outbox relay's CPU on class groups'
    check-ins, ``docs/BENCHMARKS.md``). Before the broker connects and after it stops, FastStream's own
    ``IncorrectState`` ("connect broker first"), as a ``publish`` would raise. ``tests/unit/common`` pins the
    attribute path against FastStream's releases."""
    return broker.config.producer._producer.producer  # type: ignore[attr-defined]


def kafka_broker(settings: ServiceSettings, **options: Any) -> KafkaBroker:
    """A FastStream broker logged in as the process's principal (same settings as :func:`kafka_client_options`)."""
    from faststream.kafka import KafkaBroker
    from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512

    client = kafka_client_options(settings)
    security: BaseSecurity | None = None
    if "sasl_mechanism" in client:
        mechanism = {"SCRAM-SHA-512": SASLScram512, "SCRAM-SHA-256": SASLScram256, "PLAIN": SASLPlaintext}
        security = mechanism[client["sasl_mechanism"]](
            client["sasl_plain_username"],
            client["sasl_plain_password"],
            ssl_context=client["ssl_context"],
            use_ssl=client["security_protocol"] == "SASL_SSL",
        )
    return KafkaBroker(client["bootstrap_servers"], security=security, **options)
