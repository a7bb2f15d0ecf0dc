"""The HTTP feed: a page of a subscriber's feed topic from a cursor, for systems that cannot speak Kafka.

The same records as the Kafka feed (same scoping, same ``ce_id``s). The cursor is the next offset of every partition
of the feed topic (opaque base64url JSON to the client); a page reads up to ``limit`` records from there and answers
the cursor after them. At least once: a client that stores the cursor after it processed a page and asks again with
it loses nothing; one that crashes before storing it gets the page again (drop repeats by ``id``). Order: per key
(per aggregate: a resource, a class, a course, an account) the order of the platform's topic; across keys none."""

from __future__ import annotations

import base64
import json
from typing import Any

from aiokafka import TopicPartition

from common.errors import Invalid
from common.kafka import text_headers


def encode_cursor(positions: dict[int, int]) -> str:
    return base64.urlsafe_b64encode(json.dumps(positions, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> dict[int, int]:
    if not cursor:
        return {}
    try:
        raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        positions = {int(p): int(o) for p, o in raw.items()}
    except (ValueError, TypeError, AttributeError):
        raise Invalid("not a cursor this feed gave", code="cursor", field="query.cursor") from None
    if any(p < 0 or o < 0 for p, o in positions.items()):
        raise Invalid("not a cursor this feed gave", code="cursor", field="query.cursor")
    return positions


async def partitions_of(consumer: Any, topic: str) -> list[int]:
    """The partitions of ``topic`` asked of the broker: a consumer without a group or a subscription holds no
    metadata of it yet (aiokafka's ``partitions_for_topic`` answers from that), and its ``topics()`` gives names
    only."""
    cluster = await consumer._client.fetch_all_metadata()
    return sorted(cluster.partitions_for_topic(topic) or ())


def item(record: Any) -> dict[str, Any]:
    h = text_headers(record.headers)
    return {
        "id": h.get("ce_id"),
        "type": h.get("ce_type"),
        "source": h.get("ce_source"),
        "time": h.get("ce_time"),
        "subject": h.get("ce_subject"),
        "specversion": h.get("ce_specversion"),
        "datacontenttype": h.get("content-type"),
        "data": json.loads(record.value),
    }


async def read_page(consumer: Any, topic: str, positions: dict[int, int], limit: int) -> dict[str, Any]:
    """``consumer``: a started aiokafka consumer without a group (identity's login reads ``feed.*``);
    ``positions``: the decoded cursor."""
    partitions = await partitions_of(consumer, topic)
    tps = [TopicPartition(topic, p) for p in partitions]
    if not tps:
        return {"items": [], "cursor": encode_cursor(positions), "caught_up": True}
    begins, ends = await consumer.beginning_offsets(tps), await consumer.end_offsets(tps)
    # a position the topic's retention passed restarts at its beginning (the records before are gone); one past the
    # end (never given by this feed) is held at the end, so nothing written later is skipped
    pos = {tp.partition: min(max(positions.get(tp.partition, 0), begins[tp]), ends[tp]) for tp in tps}
    behind = [tp for tp in tps if pos[tp.partition] < ends[tp]]
    items: list[dict[str, Any]] = []
    if behind:
        consumer.assign(behind)
        for tp in behind:
            consumer.seek(tp, pos[tp.partition])
        while len(items) < limit and behind:
            batches = await consumer.getmany(*behind, timeout_ms=1000, max_records=limit - len(items))
            if not batches:
                break
            for tp, records in batches.items():
                for r in records[: limit - len(items)]:
                    items.append(item(r))
                    pos[tp.partition] = r.offset + 1
            behind = [tp for tp in behind if pos[tp.partition] < ends[tp]]
    caught_up = all(pos[tp.partition] >= ends[tp] for tp in tps)
    return {"items": items, "cursor": encode_cursor(pos), "caught_up": caught_up}
