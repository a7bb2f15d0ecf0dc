"""The views topic's records, CloudEvents binary mode like every other event (headers from ``common.kafka``),
built without pydantic because the collector produces up to 1,000 of them per request: orjson and headers
whose static part is encoded once. The record body validates as ``ViewRecorded``.

The aggregator reads the bodies back with :data:`VIEW_BODY` (msgspec into a typed struct of the fields it counts,
not pydantic, and not ``orjson.loads`` into a dict: ≈ 0.3 µs against ≈ 0.9 µs a record on this machine, and two
objects fewer to free). ``tests/unit/viewstats/test_wire.py`` keeps the struct in step with the contract."""

from __future__ import annotations

import msgspec
import orjson

from common.contracts.viewstats import ViewRecorded
from common.kafka import CeHeaders
from viewstats.domain.beacon import View, ms_to_iso

SOURCE = "/services/viewstats/collector"
_HEADERS = CeHeaders(ViewRecorded.TYPE, SOURCE)


class ViewBody(msgspec.Struct, gc=False):
    """The fields of a ``ViewRecorded`` body the aggregator counts by (``client`` is not read). ``gc=False``: a body
    holds only strings, so the cyclic GC need not track it."""

    resource_id: str
    section: str
    visitor_id: str
    province: str | None  # required, null when unknown: the collector always writes it (stricter than the contract)
    country: str
    viewed_at: str


# Raises ``msgspec.DecodeError`` (a ``ValueError``) for a body that is not JSON, lacks a field or has one of
# another type.
VIEW_BODY = msgspec.json.Decoder(ViewBody)


def not_a_view(raw_id: bytes | None, raw_type: bytes | None) -> str:
    """The dead letter's reason for a record that is not a view (its CloudEvents id and type, as far as readable)."""
    event_id, event_type = (v.decode(errors="replace") if v is not None else None for v in (raw_id, raw_type))
    return f"not a {ViewRecorded.TYPE} CloudEvent (ce_id {event_id!r}, ce_type {event_type!r})"


def view_record(v: View) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    """(key, value, headers) of one view: key = resource id, CloudEvents id = the beacon's event id."""
    return v.resource_id.encode(), orjson.dumps(v.data()), _HEADERS.of(v.event_id, ms_to_iso(v.time_ms), v.resource_id)


def compression_type(codec: str) -> str | None:
    """aiokafka's ``compression_type`` for the ``views_compression`` setting (lz4, zstd and snappy need cramjam)."""
    return None if codec == "none" else codec
