"""The views topic's records, CloudEvents binary mode like every other event (headers from ``common.kafka``),
built without pydantic because the collector produces up to 1,000 of them per request: orjson and headers
whose static part is encoded once. The record body validates as ``ViewRecorded``."""

from __future__ import annotations

import orjson

from common.contracts.viewstats import ViewRecorded
from common.kafka import CeHeaders
from viewstats.domain.beacon import View, ms_to_iso

SOURCE = "/services/viewstats/collector"
_HEADERS = CeHeaders(ViewRecorded.TYPE, SOURCE)


def view_record(v: View) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    """(key, value, headers) of one view: key = resource id, CloudEvents id = the beacon's event id."""
    return v.resource_id.encode(), orjson.dumps(v.data()), _HEADERS.of(v.event_id, ms_to_iso(v.time_ms), v.resource_id)


def compression_type(codec: str) -> str | None:
    """aiokafka's ``compression_type`` for the ``views_compression`` setting (lz4, zstd and snappy need cramjam)."""
    return None if codec == "none" else codec
