from datetime import UTC, datetime

import orjson
import pytest
from aiokafka import ConsumerRecord

from common.contracts.catalog import ResourceWithdrawn
from common.messaging import MalformedMessage, decode, encode

pytestmark = pytest.mark.unit


def withdrawn() -> ResourceWithdrawn:
    return ResourceWithdrawn(
        resource_id="res-1", version=3, reason="outdated", withdrawn_at=datetime.now(UTC), cursor="c-1"
    )


def record(value: bytes | None, headers: dict[str, str], key: bytes | None = b"res-1") -> ConsumerRecord:
    return ConsumerRecord(
        topic="catalog.resources.v1",
        partition=2,
        offset=41,
        timestamp=0,
        timestamp_type=0,
        key=key,
        value=value,
        checksum=None,
        serialized_key_size=0,
        serialized_value_size=0,
        headers=tuple((k, v.encode()) for k, v in headers.items()),
    )


def test_binary_mode_headers_and_round_trip() -> None:
    event = withdrawn()
    body, headers = encode(event, "/services/catalog")
    assert headers["ce_specversion"] == "1.0"
    assert headers["ce_type"] == "cn.smartedu.catalog.resource.withdrawn.v1"
    assert headers["ce_source"] == "/services/catalog"
    assert headers["ce_subject"] == "res-1"
    assert headers["content-type"] == "application/json"
    assert headers["ce_time"].endswith("Z")
    # attributes travel in headers; the body is the event's data alone
    assert set(orjson.loads(body)) == {"resource_id", "version", "reason", "withdrawn_at", "cursor"}
    envelope = decode(record(body, headers))
    assert envelope.event == event
    assert (envelope.id, envelope.partition, envelope.offset, envelope.key) == (headers["ce_id"], 2, 41, "res-1")


def test_each_event_gets_its_own_id() -> None:
    assert encode(withdrawn(), "/s")[1]["ce_id"] != encode(withdrawn(), "/s")[1]["ce_id"]


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda b, h: (b, {k: v for k, v in h.items() if k != "ce_type"}), "missing CloudEvents header"),
        (lambda b, h: (b, {**h, "ce_type": "cn.smartedu.nobody.thing.happened.v1"}), "unknown event type"),
        (lambda b, h: (b"{not json", h), "does not match"),
        (lambda b, h: (b'{"resource_id": 5}', h), "does not match"),
        (lambda b, h: (None, h), "empty body"),
        (lambda b, h: (b, {**h, "ce_specversion": "0.3"}), "unsupported ce_specversion"),
        (lambda b, h: (b, {**h, "ce_time": "yesterday"}), "RFC 3339"),
    ],
)
def test_malformed_records_are_refused_with_a_reason(mutate, reason) -> None:
    body, headers = mutate(*encode(withdrawn(), "/services/catalog"))
    with pytest.raises(MalformedMessage, match=reason):
        decode(record(body, headers))


def test_a_property_added_by_a_later_revision_of_the_version_is_ignored() -> None:
    """The compatibility gate lets a vN gain optional properties: a reader deployed before must still read it."""
    body, headers = encode(withdrawn(), "/services/catalog")
    newer = orjson.dumps({**orjson.loads(body), "withdrawn_by_province": "43"})
    assert decode(record(newer, headers)).event == ResourceWithdrawn.model_validate_json(body)


def test_the_reason_names_the_field_that_does_not_match() -> None:
    body, headers = encode(withdrawn(), "/services/catalog")
    with pytest.raises(MalformedMessage, match=r"does not match cn.smartedu.catalog.resource.withdrawn.v1: version: "):
        decode(record(orjson.dumps({**orjson.loads(body), "version": "three"}), headers))
