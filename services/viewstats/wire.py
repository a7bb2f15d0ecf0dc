"""The views topic's records, CloudEvents binary mode like every other event (``common.messaging``),
built by hand because the collector produces up to 1,000 of them per request: orjson and static headers
instead of a pydantic model per beacon. The record body validates as ``ViewRecorded``."""

from __future__ import annotations

import orjson

from common.contracts.viewstats import ViewRecorded
from viewstats.domain.beacon import View, ms_to_iso

SOURCE = b"/services/viewstats/collector"
_STATIC = [
    ("ce_specversion", b"1.0"),
    ("ce_type", ViewRecorded.TYPE.encode()),
    ("ce_source", SOURCE),
    ("content-type", b"application/json"),
]


def view_record(v: View) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    """(key, value, headers) of one view: key = resource id, CloudEvents id = the beacon's event id."""
    value = orjson.dumps(v.data())
    headers = [
        *_STATIC,
        ("ce_id", v.event_id.encode()),
        ("ce_time", ms_to_iso(v.time_ms).encode()),
        ("ce_subject", v.resource_id.encode()),
    ]
    return v.resource_id.encode(), value, headers


def compression_type(codec: str) -> str | None:
    """aiokafka's ``compression_type`` for the ``views_compression`` setting (lz4, zstd and snappy need cramjam)."""
    return None if codec == "none" else codec
