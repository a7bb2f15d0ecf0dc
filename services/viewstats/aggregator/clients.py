"""The aggregator's Kafka consumer, on either client (``VIEWSTATS_AGGREGATOR_CLIENT``): aiokafka, or confluent-kafka
(librdkafka) with its batch ``consume()``. Both give the aggregator the same few operations, on partition numbers
of the views topic, and both hand it what ``domain.partition.ingest`` reads: rows ``(offset, headers, value,
record)``, or, from aiokafka with the compiled reader built, whole record batches (``aggregator.fetcher``).

The exactness machinery is the aggregator's, not the client's: both read the committed offsets at assignment (the
de-dup window is re-read from before them), commit explicitly after the writes (never automatically), join with
the static membership id (``instance_id``: a restarted pod fences its zombie, whose commits fail), log in with the
process's credentials (``common.kafka``), and call the aggregator back on assignment and revocation: the flush of a
revocation completes before the partitions can go to another member.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
from collections.abc import Awaitable, Callable
from types import SimpleNamespace
from typing import Any, Protocol

from aiokafka import ConsumerRebalanceListener, TopicPartition

from common.kafka import confluent_consumer, confluent_options, kafka_consumer
from viewstats.aggregator.fetcher import reads_batches, rows
from viewstats.settings import ViewstatsSettings

log = logging.getLogger("viewstats.aggregator")

Row = tuple[int, Any, bytes, Any]  # (offset, headers as (name, bytes) pairs, value, the client's record)
Rebalanced = Callable[[set[int]], Awaitable[None]]
# How the aggregator fetches (the benchmark's bare-consumer baselines fetch the same way).
FETCH = {"max_partition_fetch_bytes": 4 * 1024 * 1024, "fetch_max_bytes": 32 * 1024 * 1024, "fetch_max_wait_ms": 100}
FETCH_RECORDS = 20_000  # records per fetch: the batch the GC waits for
FETCH_BATCHES = 32  # the same in record batches (the collector's hold ≤ 256 KiB of views, ≈ 600), when read whole
CONFLUENT_FETCH = {
    "max.partition.fetch.bytes": FETCH["max_partition_fetch_bytes"],
    "fetch.max.bytes": FETCH["fetch_max_bytes"],
    "fetch.wait.max.ms": FETCH["fetch_max_wait_ms"],
}


class ViewsConsumer(Protocol):
    """What the aggregator asks of its consumer. ``assigned`` may call :meth:`start_at` and :meth:`pause` for the
    partitions it is given; the others run on the event loop at any time."""

    async def start(self, assigned: Rebalanced, revoked: Rebalanced) -> None: ...
    async def stop(self) -> None: ...
    async def fetch(self) -> dict[int, list[Row]]: ...
    async def positions(self, partitions: set[int]) -> dict[int, tuple[int | None, int]]:
        """Partition → (committed offset or None, first offset kept)."""
        ...

    def start_at(self, partition: int, offset: int) -> None: ...
    def pause(self, partition: int) -> None: ...
    def resume(self, partition: int) -> None: ...
    async def commit(self, offsets: dict[int, int]) -> None: ...
    def highwater(self, partition: int) -> int | None: ...


def views_consumer(settings: ViewstatsSettings) -> ViewsConsumer:
    return ConfluentViews(settings) if settings.aggregator_client == "confluent" else AiokafkaViews(settings)


class AiokafkaViews:
    def __init__(self, settings: ViewstatsSettings) -> None:
        self.topic = settings.views_topic
        self.consumer = kafka_consumer(
            login=settings,
            group_id=settings.kafka_client_prefix + settings.aggregator_group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            **FETCH,
            group_instance_id=settings.instance_id,
            session_timeout_ms=settings.session_timeout_ms,
            value_deserializer=rows,  # marks it: its fetcher hands over record batches or rows (``fetcher``)
        )

    async def start(self, assigned: Rebalanced, revoked: Rebalanced) -> None:
        self.consumer.subscribe([self.topic], listener=_Listener(assigned, revoked))
        await self.consumer.start()

    async def stop(self) -> None:
        await self.consumer.stop()

    async def fetch(self) -> dict[int, list[Row]]:
        most = FETCH_BATCHES if reads_batches else FETCH_RECORDS
        batches = await self.consumer.getmany(timeout_ms=100, max_records=most)
        return {tp.partition: rows for tp, rows in batches.items()}

    async def positions(self, partitions: set[int]) -> dict[int, tuple[int | None, int]]:
        tps = [TopicPartition(self.topic, p) for p in sorted(partitions)]
        beginnings = await self.consumer.beginning_offsets(tps)
        return {tp.partition: (await self.consumer.committed(tp), beginnings[tp]) for tp in tps}

    def start_at(self, partition: int, offset: int) -> None:
        self.consumer.seek(TopicPartition(self.topic, partition), offset)

    def pause(self, partition: int) -> None:
        self.consumer.pause(TopicPartition(self.topic, partition))

    def resume(self, partition: int) -> None:
        self.consumer.resume(TopicPartition(self.topic, partition))

    async def commit(self, offsets: dict[int, int]) -> None:
        await self.consumer.commit({TopicPartition(self.topic, p): o for p, o in offsets.items()})

    def highwater(self, partition: int) -> int | None:
        return self.consumer.highwater(TopicPartition(self.topic, partition))


class _Listener(ConsumerRebalanceListener):
    def __init__(self, assigned: Rebalanced, revoked: Rebalanced) -> None:
        self.assigned, self.revoked = assigned, revoked

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self.revoked({tp.partition for tp in revoked})

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        await self.assigned({tp.partition for tp in assigned})


class ConfluentViews:
    """confluent-kafka's ``Consumer`` driven from the event loop. ``consume()`` blocks (librdkafka fetches in its
    own threads; the call waits for a batch and builds the messages), so it runs on a thread of its own, one call
    at a time. The rebalance callbacks run inside ``consume()`` on that thread: they hand the aggregator's
    coroutines to the event loop and wait for them, so a revocation's flush and commit finish before librdkafka
    gives the partitions up, as with aiokafka. Other calls (commit, offsets) go to a worker thread: librdkafka is
    thread-safe, and the loop never blocks on the network."""

    def __init__(self, settings: ViewstatsSettings) -> None:
        from confluent_kafka import TopicPartition as Partition

        self.topic = settings.views_topic
        self._partition = Partition
        self.consumer = confluent_consumer(
            login=settings,
            **{
                "group.id": settings.kafka_client_prefix + settings.aggregator_group,
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
                "auto.offset.reset": "earliest",
                "session.timeout.ms": settings.session_timeout_ms,
                # aiokafka's default: the same assignment whichever client the aggregators use
                "partition.assignment.strategy": "roundrobin",
                **CONFLUENT_FETCH,
                **({"group.instance.id": settings.instance_id} if settings.instance_id else {}),
            },
        )
        self._thread = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="viewstats-consume")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._starts: dict[int, int] = {}  # set by `assigned` inside the callback: where each partition starts
        self._paused: set[int] = set()
        self._known: dict[int, tuple[int | None, int]] = {}  # positions read for the assignment being made
        self._assigning = False  # `assigned` runs: start_at and pause are for the assignment being made
        self._rewound: dict[int, int] = {}  # partition → offset it was rewound to while a consume() ran

    async def start(self, assigned: Rebalanced, revoked: Rebalanced) -> None:
        self._loop = loop = asyncio.get_running_loop()

        def on_assign(consumer: Any, tps: list) -> None:
            # Read here, on the callback's thread: librdkafka answers a committed() from another thread only after
            # the assignment (it waits for this callback).
            self._known = self._read_positions(tps)
            self._starts, self._paused, self._assigning = {}, set(), True
            try:
                asyncio.run_coroutine_threadsafe(assigned({tp.partition for tp in tps}), loop).result()
            finally:
                self._assigning = False
            consumer.assign([self._partition(self.topic, p, o) for p, o in self._starts.items()])
            if self._paused:
                consumer.pause([self._partition(self.topic, p) for p in self._paused])

        def on_revoke(consumer: Any, tps: list) -> None:
            asyncio.run_coroutine_threadsafe(revoked({tp.partition for tp in tps}), loop).result()

        def on_lost(consumer: Any, tps: list) -> None:
            # The session expired: another member may own these already, so nothing is flushed or committed (a
            # commit would fail). The next owner re-reads what was not committed.
            log.warning("partitions %s lost (session expired)", sorted(tp.partition for tp in tps))
            asyncio.run_coroutine_threadsafe(revoked({tp.partition for tp in tps}), loop).result()

        self.consumer.subscribe([self.topic], on_assign=on_assign, on_revoke=on_revoke, on_lost=on_lost)

    async def stop(self) -> None:
        assert self._loop is not None
        try:
            await self._loop.run_in_executor(self._thread, self.consumer.close)  # revokes: on the same thread
        finally:
            self._thread.shutdown(wait=False)

    async def fetch(self) -> dict[int, list[Row]]:
        assert self._loop is not None
        messages = await self._loop.run_in_executor(self._thread, self.consumer.consume, FETCH_RECORDS, 0.1)
        batches: dict[int, list[Row]] = {}
        for m in messages:
            if m.error() is not None:
                log.warning("consume: %s", m.error())
                continue
            rows = batches.get(p := m.partition())
            if rows is None:
                rows = batches[p] = []
            rows.append((m.offset(), m.headers(), m.value(), m))
        for p, offset in list(self._rewound.items()):
            # Rows fetched before the rewind (the consume ran meanwhile) are dropped until the rewound offset.
            if rows := batches.get(p):
                at = next((i for i, r in enumerate(rows) if r[0] == offset), None)
                batches[p] = rows[at:] if at is not None else []
                if at is not None:
                    del self._rewound[p]
        return batches

    async def positions(self, partitions: set[int]) -> dict[int, tuple[int | None, int]]:
        if self._assigning:
            return {p: self._known[p] for p in partitions}
        return await asyncio.to_thread(self._read_positions, [self._partition(self.topic, p) for p in partitions])

    def _read_positions(self, tps: list) -> dict[int, tuple[int | None, int]]:
        committed = self.consumer.committed(tps, timeout=30)
        lows = {tp.partition: self.consumer.get_watermark_offsets(tp, timeout=30)[0] for tp in tps}
        return {tp.partition: (tp.offset if tp.offset >= 0 else None, lows[tp.partition]) for tp in committed}

    def start_at(self, partition: int, offset: int) -> None:
        """Inside ``assigned`` (the callback then assigns from there); afterwards, a rewind (dead-lettering)."""
        if self._assigning:
            self._starts[partition] = offset
            return
        self._rewound[partition] = offset
        self.consumer.seek(self._partition(self.topic, partition, offset))

    def pause(self, partition: int) -> None:
        if self._assigning:
            self._paused.add(partition)
        else:
            self.consumer.pause([self._partition(self.topic, partition)])

    def resume(self, partition: int) -> None:
        self._paused.discard(partition)
        self.consumer.resume([self._partition(self.topic, partition)])

    async def commit(self, offsets: dict[int, int]) -> None:
        tps = [self._partition(self.topic, p, o) for p, o in offsets.items()]
        results = await asyncio.to_thread(self.consumer.commit, offsets=tps, asynchronous=False)
        failed = [tp for tp in results or () if tp.error is not None]
        if failed:
            from confluent_kafka import KafkaException

            raise KafkaException(failed[0].error)

    def highwater(self, partition: int) -> int | None:
        with contextlib.suppress(Exception):
            high = self.consumer.get_watermark_offsets(self._partition(self.topic, partition), cached=True)[1]
            return high if high >= 0 else None
        return None


def topic_id(settings: ViewstatsSettings, timeout: float = 15) -> str:
    """Kafka's id of the views topic (a UUID the broker gives a topic when it is created, KIP-516): what tells a
    recreated topic from the one a database counted, whose offsets started again at 0. Blocking (confluent-kafka's
    admin client): call it from a thread. Reading a topic implies describing it, so the aggregator's principal may."""
    from confluent_kafka import TopicCollection
    from confluent_kafka.admin import AdminClient

    topic = settings.views_topic
    admin = AdminClient(confluent_options(settings))  # held until the answer: a client collected meanwhile aborts it
    described = admin.describe_topics(TopicCollection([topic]), request_timeout=timeout)
    return str(described[topic].result(timeout).topic_id)


def as_consumer_record(record: Any, topic: str, partition: int) -> Any:
    """A record as dead letters take it (attributes, as aiokafka's ``ConsumerRecord``): aiokafka's C record has no
    topic and partition, and confluent-kafka's ``Message`` has methods instead. Only malformed records get here."""
    names = ("offset", "key", "value", "headers")
    if callable(getattr(record, "offset", None)):  # confluent-kafka's Message
        return SimpleNamespace(
            topic=record.topic(), partition=record.partition(), **{n: getattr(record, n)() for n in names}
        )
    return SimpleNamespace(topic=topic, partition=partition, **{n: getattr(record, n) for n in names})
