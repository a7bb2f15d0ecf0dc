"""The live feed router: reads the offered platform topics in consumer group ``identity-feeds`` and writes each
event, shaped per subscriber, to the feed topic of every subscriber that may see it.

At least once, crash-safe: offsets are committed only after every feed record of the batch was acknowledged (the
producer is idempotent, ``acks=all``). A process killed mid-batch leaves the batch uncommitted; the next owner of the
partitions routes it again, and the subscriber sees the repeats with the same ``ce_id`` (derived from the source
event's id and the subscriber's key). An outage of Kafka or the store retries the batch without limit; a record
that is not a declared event goes to ``identity-feeds.dlq`` with the reason. Per key, a feed keeps the source's order
(one source partition is routed in order, the key is kept, pseudonymised deterministically)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Any

from aiokafka import ConsumerRecord, TopicPartition

from common.kafka import MalformedMessage
from common.messaging import INFRA_UNAVAILABLE, DeadLetters
from common.observability import CONSUMER_PROCESSING, MESSAGES_CONSUMED, MESSAGES_FAILED
from common.topics import FEED_ROUTER
from identity.domain.subscribers import Subscriber
from identity.feeds.directory import Directory
from identity.feeds.scope import Scope
from identity.feeds.wire import FeedRecord, feed_record, parse

log = logging.getLogger("identity.feeds")


async def send_all(producer: Any, records: Sequence[FeedRecord]) -> None:
    """Send every record, then wait for every acknowledgement (one round trip for the lot)."""
    futures = [await producer.send(r.topic, r.value, key=r.key, headers=r.headers) for r in records]
    await asyncio.gather(*futures)


async def shape_for(
    subscribers: Sequence[Subscriber], scope: Scope, records: Sequence[ConsumerRecord], dead: list[tuple[Any, str]]
) -> list[FeedRecord]:
    """The feed records of ``records`` for ``subscribers``; malformed records are appended to ``dead``."""
    out: list[FeedRecord] = []
    for record in records:
        try:
            env = parse(record)
        except MalformedMessage as exc:
            dead.append((record, str(exc)))
            continue
        if env is None:
            continue
        province, local = await scope.province(env)
        for s in subscribers:
            if s.admits(env.type, province, local_channel=local):
                out.append(feed_record(s.topic, s, env))
    return out


class Router:
    def __init__(
        self,
        consumer: Any,
        producer: Any,
        directory: Directory,
        scope: Scope,
        dead_letters: DeadLetters,
        *,
        max_records: int = 500,
    ) -> None:
        self.consumer, self.producer = consumer, producer
        self.directory, self.scope, self.dead_letters = directory, scope, dead_letters
        self.max_records = max_records
        self.routed = 0  # feed records acknowledged (tests and logs)

    async def run(self) -> None:
        while True:
            batches = await self.consumer.getmany(timeout_ms=500, max_records=self.max_records)
            pending = dict(batches)
            try:
                for tp, records in batches.items():
                    await self._route_until_done(tp, records)
                    del pending[tp]
            except BaseException:
                # anything but an outage (a bug, a cancel): what this fetch brought and was not committed goes back, so
                # the loop that starts again reads it again instead of skipping it (the fetch moved every position)
                for tp, records in pending.items():
                    self.consumer.seek(tp, records[0].offset)
                raise

    async def _route_until_done(self, tp: TopicPartition, records: list[ConsumerRecord]) -> None:
        delay = 0.5
        started = time.perf_counter()
        while True:
            try:
                await self.route(records)
                await self.commit({tp: records[-1].offset + 1})
                # the chassis' consumer figures, as ServiceKit's consumers export them (the dashboards and alerts)
                MESSAGES_CONSUMED.labels(FEED_ROUTER, FEED_ROUTER, tp.topic).inc(len(records))
                CONSUMER_PROCESSING.labels(FEED_ROUTER, FEED_ROUTER, tp.topic, str(tp.partition)).observe(
                    time.perf_counter() - started
                )
                return
            except INFRA_UNAVAILABLE as exc:  # not the records' fault: the same batch again, nothing committed
                MESSAGES_FAILED.labels(FEED_ROUTER, FEED_ROUTER, tp.topic, "unavailable").inc()
                log.warning("feed routing waits for Kafka or the store: %s", exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)

    async def route(self, records: list[ConsumerRecord]) -> None:
        subscribers = await self.directory.current()
        dead: list[tuple[Any, str]] = []
        out = await shape_for(subscribers, self.scope, records, dead)
        started = time.perf_counter()
        await send_all(self.producer, out)
        for record, error in dead:
            await self.dead_letters.park(record, error)
        self.routed += len(out)
        if out:
            log.debug("routed %d feed records in %.3f s", len(out), time.perf_counter() - started)

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        """After every feed record of the batch was acknowledged (crash tests die just before this)."""
        await self.consumer.commit(offsets)
