"""Start-up read of the compacted topic ``catalog.resources.v1``: the public catalog as the feed holds it.

A plain consumer with manual assignment reads every partition from its beginning up to the end offsets taken
when it starts (records arriving later are the per-replica ``catalog-index`` consumer's job). Per resource it
keeps the record with the newest cursor: a ``published`` snapshot or a ``withdrawn`` marker (the topic's
tombstone policy, see the README). When a group id is given, the end offsets are committed for that group, so
the group's consumer continues where this read stopped instead of replaying the topic once more (a failed
commit only costs that replay: applying a change is idempotent by cursor).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import orjson
from aiokafka import TopicPartition
from aiokafka.structs import OffsetAndMetadata

from common.contracts.catalog import ResourcePublished, ResourcePublishedV1, ResourceWithdrawn
from common.kafka import ce_type_of, kafka_consumer
from common.reference import province_code
from common.topics import topic

log = logging.getLogger("catalog.snapshot")

TOPIC = ResourcePublished.TOPIC
_PUBLISHED = ResourcePublished.TYPE
_PUBLISHED_V1 = ResourcePublishedV1.TYPE  # local_channel in letters (hn): read as the GB/T 2260 code
_WITHDRAWN = ResourceWithdrawn.TYPE


@dataclass(slots=True)
class TopicState:
    """The last change of one resource on the topic: ``resource`` is the public snapshot, None if withdrawn."""

    cursor: str
    resource: dict[str, Any] | None
    version: int
    at: tuple[int, int] | None = None  # (partition, offset) of the key's newest record: its change-feed position


_CURSOR = b'"cursor":"'


def _cursor(value: bytes) -> bytes | None:
    """The event's ``cursor`` without decoding the record (only the newest record per key is decoded): the
    last ``"cursor":"`` in the JSON is the event's own field (it follows the snapshot; inside a JSON string
    the quotes would be escaped). None for a record that has none: malformed."""
    try:
        start = value.rindex(_CURSOR) + len(_CURSOR)
        return value[start : value.index(b'"', start)]
    except ValueError:  # not pydantic's compact JSON: decode it
        try:
            return str(orjson.loads(value)["cursor"]).encode()
        except (ValueError, KeyError, TypeError):
            return None


async def read_public_catalog(
    kafka: dict[str, Any], *, group_id: str | None = None, client_id: str = "catalog-snapshot"
) -> tuple[dict[str, TopicState], int, dict[int, int]]:
    """(resource id → last change, records read, partition → end offset read up to); ``kafka``: the client
    options (common.kafka)."""
    consumer = kafka_consumer(
        login=kafka,
        client_id=client_id,
        group_id=group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=8 * 1024 * 1024,
        fetch_max_bytes=64 * 1024 * 1024,
    )
    await consumer.start()
    latest: dict[bytes, tuple[bytes, str, bytes]] = {}  # key → (cursor, ce_type, value), decoded at the end
    newest: dict[bytes, tuple[int, int]] = {}  # key → (partition, offset) of its last record, cursor or not
    ends: dict[TopicPartition, int] = {}
    records = malformed = 0
    try:
        tps = [TopicPartition(TOPIC, p) for p in range(topic(TOPIC).partitions)]
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        starts = await consumer.beginning_offsets(tps)
        await consumer.seek_to_beginning(*tps)
        remaining = {tp for tp in tps if ends[tp] > starts[tp]}
        while remaining:
            batches = await consumer.getmany(*remaining, timeout_ms=1000, max_records=20000)
            for batch in batches.values():
                for rec in batch:
                    if rec.key is None or rec.value is None:
                        continue
                    records += 1
                    ce_type = ce_type_of(rec.headers)
                    if ce_type not in (_PUBLISHED, _PUBLISHED_V1, _WITHDRAWN):
                        continue
                    cursor = _cursor(rec.value)
                    if cursor is None:  # the live consumer dead-letters it; a start-up must not stop on it
                        malformed += 1
                        continue
                    newest[rec.key] = (rec.partition, rec.offset)  # a partition is read in offset order
                    held = latest.get(rec.key)
                    if held is None or cursor > held[0]:
                        latest[rec.key] = (cursor, ce_type, rec.value)
            for tp in list(remaining):
                if await consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
        if group_id is not None:
            try:
                await consumer.commit({tp: OffsetAndMetadata(ends[tp], "") for tp in tps})
            except Exception as exc:  # e.g. a previous instance still in the group: the group replays
                log.warning("could not commit the snapshot's end offsets for %s: %r", group_id, exc)
    finally:
        await consumer.stop()
    state: dict[str, TopicState] = {}
    for key, (_, ce_type, value) in latest.items():
        try:
            data = orjson.loads(value)
            if ce_type == _PUBLISHED_V1 and data["resource"].get("local_channel") is not None:
                data["resource"]["local_channel"] = province_code(data["resource"]["local_channel"])
            if ce_type in (_PUBLISHED, _PUBLISHED_V1):
                state[key.decode()] = TopicState(
                    data["cursor"], data["resource"], data["resource"]["version"], newest[key]
                )
            else:
                state[key.decode()] = TopicState(data["cursor"], None, data["version"], newest[key])
        except (ValueError, KeyError, TypeError):
            malformed += 1
    if malformed:
        log.warning("skipped %d malformed records of %s (the live consumer dead-letters them)", malformed, TOPIC)
    return state, records, {tp.partition: end for tp, end in ends.items()}
