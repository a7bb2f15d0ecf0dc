"""Replays: a window of the platform's topics (event types, province, time range) routed again into one
subscriber's feed, for a subscriber that lost data or joined late.

A replay is asked through the API (stored ``pending``); a router replica claims it (a unique insert: one runs it),
finds where the window starts and ends in each partition of the topics its types live on with Kafka's
offsets-for-times, reads that range without a consumer group, and sends what the subscriber may see with the same
shaping and the same ``ce_id``s as the live feed (a subscriber that has some of them drops the repeats). Bounded: at
most ``max_records`` feed records (then ``truncated``); observable: ``scanned``, ``routed``, ``state`` in the store,
updated every second, read through the API."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable
from datetime import UTC
from typing import Any

from aiokafka import TopicPartition

from common.contracts import EVENT_TYPES
from identity.feeds.directory import Directory
from identity.feeds.reader import partitions_of
from identity.feeds.router import send_all, shape_for
from identity.feeds.scope import Scope
from identity.store.subscribers import SubscriberStore

log = logging.getLogger("identity.feeds.replays")


class Replayer:
    def __init__(
        self,
        store: SubscriberStore,
        directory: Directory,
        scope: Scope,
        producer: Any,
        new_consumer: Callable[[], Any],
        *,
        worker: str,
        poll_seconds: float = 2.0,
    ) -> None:
        self.store, self.directory, self.scope, self.producer = store, directory, scope, producer
        self.new_consumer, self.worker, self.poll_seconds = new_consumer, worker, poll_seconds

    async def run(self) -> None:
        while True:
            try:
                for doc in await self.store.pending_replays():
                    if await self.store.claim_replay(doc["_id"], self.worker):
                        await self.replay(doc)
            except Exception:
                log.exception("replay loop failed; retrying")
            await asyncio.sleep(self.poll_seconds)

    async def replay(self, doc: dict[str, Any]) -> None:
        subscriber = await self.directory.one(doc["subscriber"])
        if subscriber is None or not subscriber.active:
            await self.store.progress(doc["_id"], "failed", error="subscriber unknown or deactivated")
            return
        # the window narrows the subscription: its types, and its province (within the subscription's)
        narrowed = dataclasses.replace(
            subscriber,
            event_types=tuple(doc["event_types"]),
            provinces=(doc["province"],) if doc["province"] else subscriber.provinces,
        )
        await self.store.progress(doc["_id"], "running")
        try:
            scanned, routed, truncated = await self._read(doc, narrowed)
        except Exception as exc:
            log.exception("replay %s failed", doc["_id"])
            await self.store.progress(doc["_id"], "failed", error=type(exc).__name__)
            return
        await self.store.progress(doc["_id"], "done", scanned=scanned, routed=routed, truncated=truncated)

    async def _read(self, doc: dict[str, Any], subscriber: Any) -> tuple[int, int, bool]:
        topics = sorted({EVENT_TYPES[t].TOPIC for t in doc["event_types"]})
        since_ms = int(doc["since"].replace(tzinfo=doc["since"].tzinfo or UTC).timestamp() * 1000)
        until_ms = int(doc["until"].replace(tzinfo=doc["until"].tzinfo or UTC).timestamp() * 1000)
        consumer = self.new_consumer()
        await consumer.start()
        scanned = routed = 0
        last_report = time.monotonic()
        try:
            tps = [TopicPartition(t, p) for t in topics for p in await partitions_of(consumer, t)]
            starts = await consumer.offsets_for_times(dict.fromkeys(tps, since_ms))
            stops = await consumer.offsets_for_times(dict.fromkeys(tps, until_ms))
            ends = await consumer.end_offsets(tps)
            ranges = {tp: (starts[tp].offset, stops[tp].offset if stops[tp] else ends[tp]) for tp in tps if starts[tp]}
            ranges = {tp: r for tp, r in ranges.items() if r[0] < r[1]}
            if not ranges:
                return 0, 0, False
            consumer.assign(list(ranges))
            for tp, (start, _) in ranges.items():
                consumer.seek(tp, start)
            open_ranges = dict(ranges)
            while open_ranges:
                batches = await consumer.getmany(*open_ranges, timeout_ms=1000, max_records=500)
                for tp, records in batches.items():
                    stop = open_ranges.get(tp, (0, 0))[1]
                    inside = [r for r in records if r.offset < stop]
                    if not inside or inside[-1].offset >= stop - 1 or len(inside) < len(records):
                        open_ranges.pop(tp, None)
                    scanned += len(inside)
                    out = await shape_for([subscriber], self.scope, inside, [])  # malformed: the live DLQ has them
                    room = doc["max_records"] - routed
                    await send_all(self.producer, out[:room])
                    routed += min(len(out), room)
                    if routed >= doc["max_records"]:
                        return scanned, routed, True
                for tp in list(open_ranges):  # a partition whose position reached the window's end is done
                    if await consumer.position(tp) >= open_ranges[tp][1]:
                        open_ranges.pop(tp)
                if time.monotonic() - last_report >= 1.0:
                    await self.store.progress(doc["_id"], "running", scanned=scanned, routed=routed)
                    last_report = time.monotonic()
            return scanned, routed, False
        finally:
            await consumer.stop()
