"""The aggregator's consumer: partitions taken over and given back, and the loop that reads and queues views.

The loop: a fetch (``clients``: aiokafka or confluent-kafka) → per partition (``domain.partition.ingest``): skip
warm-up records (they only refill the de-dup window), drop retried beacons, queue ``(offset, key)``; every
``flush_max_records`` or ``flush_interval_seconds`` a flush (:mod:`viewstats.aggregator.flush`) writes and commits
what is queued.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from datetime import date, timedelta

from faststream.kafka import KafkaBroker
from prometheus_client import Counter as Metric
from prometheus_client import Gauge, Info

from common.messaging import INFRA_UNAVAILABLE, DeadLetters
from common.observability import CONSUMER_LAG, MESSAGES_FAILED
from common.topics import group as declared_group
from viewstats.aggregator.clients import Row, ViewsConsumer, topic_id, views_consumer
from viewstats.aggregator.flush import SERVICE, Flusher
from viewstats.aggregator.upkeep import Popularity, Publish, Retention
from viewstats.domain.counters import DedupWindow, local_minute, minute_label
from viewstats.domain.partition import READER, PartitionState, ingest, park_records
from viewstats.domain.popularity import DAY_HOURS, hour_labels
from viewstats.domain.source import ForeignTopic, Source, check
from viewstats.listing import ListedResources
from viewstats.settings import ViewstatsSettings
from viewstats.store import ViewStore

log = logging.getLogger("viewstats.aggregator")

DUPLICATES = Metric("viewstats_duplicate_beacons_total", "Beacons dropped as client retries")
# Which record reader runs: "compiled" (``domain/_reader.pyx``, built with the image) or "python" (the same
# decisions, ≈ 1/3 slower a record): a pod on the slow path shows here and in its start-up log.
READER_INFO = Info("viewstats_aggregator_reader", "The aggregator's record reader: compiled or python")
FOREIGN_TOPIC = Gauge(
    "viewstats_aggregator_foreign_topic",
    "1 while the aggregator keeps its partitions paused: its views topic is not the one its database counted "
    "(recreated, or another topic); `python -m viewstats.rebase` adopts it",
)


class Aggregator:
    flusher_type = Flusher  # the crash tests' wrapper dies inside its writes and commits

    def __init__(
        self,
        settings: ViewstatsSettings,
        store: ViewStore,
        broker: KafkaBroker | None = None,
        publish: Publish | None = None,
    ) -> None:
        """``broker``: where dead letters go (None: they are only logged and counted, for benchmarks);
        ``publish``: sends popularity events (None: none are sent)."""
        self.settings = settings
        self.store = store
        self.group = settings.aggregator_group
        self.states: dict[int, PartitionState] = {}
        self.listed = ListedResources(store, settings.listing_refresh_seconds)
        dead_letters = (
            DeadLetters(
                broker,
                service=SERVICE,
                group=self.group,
                topic=declared_group("viewstats-aggregator").dead_letter_topic,
            )
            if broker is not None
            else None
        )
        self.flusher = self.flusher_type(settings, store, self.listed, self.states, dead_letters)
        self.popularity = Popularity(self.states, publish, settings.popularity_interval_seconds) if publish else None
        self.retention = Retention(settings, store, self.states, self.flusher.lock)
        self._preparing: set[asyncio.Task[None]] = set()
        self._listing: asyncio.Task[None] | None = None
        self.consumer: ViewsConsumer | None = None
        self.behind = 0  # records not yet read, summed over the owned partitions (measured at each fetch)
        self._closing = False
        self._task: asyncio.Task[None] | None = None

    @property
    def freshness_ms(self) -> int:
        """Time of the last completed flush (answers carry it)."""
        return self.flusher.freshness_ms

    @property
    def counted(self) -> int:
        return self.flusher.counted

    async def flush(self, *, final: bool = False) -> None:
        await self.flusher.flush(final=final)

    async def publish_popularity(self, now_ms: int | None = None) -> int:
        assert self.popularity is not None
        return await self.popularity.publish(now_ms)

    # --- lifecycle --------------------------------------------------------------------------------------
    async def start(self) -> None:
        READER_INFO.info({"reader": READER})
        if READER == "compiled":
            log.info("record reader: compiled (viewstats.domain._reader)")
        else:
            log.warning("record reader: python (viewstats.domain._reader is not built: `make python`); slower a record")
        self.consumer = self.flusher.consumer = views_consumer(self.settings)
        # The catalog's resource ids are read while the consumer joins its group (a flush needs them).
        self._listing = asyncio.create_task(self.listed.refresh(), name="viewstats-listing-first-read")
        await self.consumer.start(self.assigned, self.revoked)
        self._task = asyncio.create_task(self.run(), name="viewstats-aggregator")
        self._task.add_done_callback(_log_crash)
        if self.popularity is not None:
            self.popularity.start()
        self.retention.start()

    async def stop(self) -> None:
        self.flusher.stopping.set()
        for task in list(self._preparing):
            task.cancel()
        await asyncio.gather(*self._preparing, return_exceptions=True)
        await self.listed.stop()
        if self._listing is not None:
            self._listing.cancel()
            await asyncio.gather(self._listing, return_exceptions=True)
        if self.popularity is not None:
            await self.popularity.stop()
        await self.retention.stop()
        if self._task:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self.consumer:
            await self.flush(final=True)
            self._closing = True  # leaving the group revokes: nothing is pending any more, and a commit
            await self.consumer.stop()  # from inside the close would wait for the closing coordinator

    # --- assignment -------------------------------------------------------------------------------------
    async def assigned(self, partitions: set[int]) -> None:
        """Take the partitions over: only Kafka calls here. aiokafka sends no heartbeats while this callback
        runs, so one that reads the store for a dozen partitions outlives the session timeout on a big store,
        the coordinator drops the member, and the rejoin calls it again, forever. The store reads (sketches,
        popularity) happen in :meth:`_prepare` with the partitions paused; each resumes once it is ready."""
        assert self.consumer is not None
        if not partitions:
            return
        positions = await self.consumer.positions(partitions)
        fresh: list[PartitionState] = []
        for p in sorted(partitions):
            committed, beginning = positions[p]
            committed = beginning if committed is None else committed
            start = max(beginning, committed - self.settings.dedup_window)
            state = PartitionState(p, committed, DedupWindow(self.settings.dedup_window))
            state.committed = committed
            self.states[p] = state
            self.consumer.pause(p)
            self.consumer.start_at(p, start)
            fresh.append(state)
            log.info("partition %s assigned: committed %s, warm-up from %s", p, committed, start)
        task = asyncio.create_task(self._prepare(fresh), name="viewstats-prepare")
        self._preparing.add(task)
        task.add_done_callback(self._preparing.discard)
        task.add_done_callback(_log_crash)

    async def _prepare(self, states: list[PartitionState]) -> None:
        """Load what the owner of these partitions keeps in memory (one store read each for all of them), then
        let the loop read them. A store outage delays the partitions, it never resumes one half-loaded; a views
        topic the database did not count keeps them paused (:meth:`verify_source`); those revoked meanwhile are
        left alone (an assignment again prepares its own states)."""
        assert self.consumer is not None
        started = time.monotonic()
        today = minute_label(local_minute(int(time.time() * 1000)))[2]
        delay = 0.2
        while True:
            states = [st for st in states if self.states.get(st.partition) is st]
            if not states:
                return
            partitions = [st.partition for st in states]
            try:
                await self.verify_source()
                if not self.listed.loaded:  # the first read (started with the consumer) failed or is running
                    if self._listing is None or self._listing.done():
                        self._listing = asyncio.create_task(self.listed.refresh())
                    await asyncio.shield(self._listing)
                sketches = await self.store.load_sketches(partitions, days_around(today))
                await self.store.load_watermarks(partitions)
                minute = local_minute(int(time.time() * 1000))
                hours = (
                    await self.store.partition_resources("h", hour_labels(minute, DAY_HOURS + 1), partitions)
                    if self.popularity is not None
                    else {}
                )
                break
            except ForeignTopic as exc:  # an operator's step, not an outage: checked again every 10 s
                log.error("partitions %s stay paused: %s", partitions, exc)
                delay = 10.0
            except Exception:
                log.exception("loading partitions %s failed; retrying in %.1f s", partitions, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)
        for st in states:
            if self.states.get(st.partition) is not st:
                continue
            for day, scope, blob in sketches[st.partition]:
                st.uniques.load(day, scope, blob)
            st.sketch_days.update(days_around(today))
            if self.popularity is not None:
                st.popularity.seed(minute, hours[st.partition])
            st.ready = True
            self.consumer.resume(st.partition)
        log.info("partitions %s loaded in %.1f s", partitions, time.monotonic() - started)

    async def verify_source(self) -> None:
        """Raise :class:`~viewstats.domain.source.ForeignTopic` unless the views topic (by name and Kafka's topic
        id) is the one the database counted (README "Exactness", 7); a database that recorded none takes this one.
        Checked at every assignment, so at every start (README "Another views topic" says what it does not see)."""
        current = Source(self.settings.views_topic, await asyncio.to_thread(topic_id, self.settings))
        try:
            check(await self.store.recorded_source(current), current)
        except ForeignTopic:
            FOREIGN_TOPIC.set(1)
            raise
        FOREIGN_TOPIC.set(0)

    async def revoked(self, partitions: set[int]) -> None:
        if not self._closing:
            await self.flush(final=True)  # before another consumer may own these shards
        for p in partitions:
            self.states.pop(p, None)

    # --- the loop ---------------------------------------------------------------------------------------
    async def run(self) -> None:
        """Read and tally while the previous flush is being written: the store's latency overlaps the
        parsing, and one flush carries whatever arrived meanwhile (bigger flushes at higher rates).

        Catching up (``catchup_lag_records`` or more behind: after an outage, a rebalance, a replayed day) it
        flushes less often: a flush has costs per shard and per partition (the minute and per-resource maps
        rewritten whole, one bulk write per collection) that bigger flushes share. Freshness is minutes behind
        anyway then; once caught up, flushes are every ``flush_interval_seconds`` again."""
        assert self.consumer is not None
        settings = self.settings
        last_flush = time.monotonic()
        pending = 0
        flushing: asyncio.Task[None] | None = None
        try:
            while not self.flusher.stopping.is_set():
                # The cyclic GC waits until this batch's records are garbage. Collections in the middle of one
                # found tens of thousands of records alive, promoted them to the oldest generation and so
                # triggered full collections: nearly a third of the aggregator's time went to the GC.
                gc.disable()
                try:
                    pending += self._ingest_all(await self.consumer.fetch())
                finally:
                    gc.enable()
                    collect_due_garbage()
                # aiokafka's getmany() returns buffered records without suspending, and a fetch holds hundreds of
                # thousands of them while catching up (lz4 batches): without a yield here, the consumer's
                # heartbeats, the flush's store I/O and the next fetch all waited until the buffer was drained (a
                # replayed day had its heartbeat session expire, and rebalanced).
                await asyncio.sleep(0)
                if self.behind >= settings.catchup_lag_records:
                    most, every = settings.catchup_flush_max_records, settings.catchup_flush_interval_seconds
                else:
                    most, every = settings.flush_max_records, settings.flush_interval_seconds
                due = pending >= most or time.monotonic() - last_flush >= every
                if flushing is not None and (flushing.done() or pending >= 2 * most):
                    await flushing  # re-raises a failure; back-pressure when the store falls behind
                    flushing = None
                if due and flushing is None:
                    flushing = asyncio.create_task(self._flush_with_retry())
                    pending = 0
                    last_flush = time.monotonic()
        finally:
            if flushing is not None:
                await flushing

    async def _flush_with_retry(self) -> None:
        """A store or Kafka outage stops counting, never loses a view: retry until the flush succeeds."""
        delay = 0.2
        while True:
            try:
                await self.flush()
                return
            except Exception as exc:
                reason = "unavailable" if isinstance(exc, INFRA_UNAVAILABLE) else "handler_error"
                MESSAGES_FAILED.labels(SERVICE, self.group, self.settings.views_topic, reason).inc()
                if self.flusher.stopping.is_set():
                    raise
                log.exception("flush failed; retrying in %.1f s", delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)

    def _ingest_all(self, batches: dict[int, list[Row]]) -> int:
        queued, topic = 0, self.settings.views_topic
        for partition, records in batches.items():
            state = self.states.get(partition)
            if state is None:  # revoked meanwhile
                continue
            if state.parking is not None:
                records, parked = park_records(state, records)
                if parked:
                    MESSAGES_FAILED.labels(SERVICE, self.group, topic, "handler_error").inc(parked)
            n, duplicates, malformed = ingest(state, records)
            queued += n
            if duplicates:
                DUPLICATES.inc(duplicates)
            if malformed:
                MESSAGES_FAILED.labels(SERVICE, self.group, topic, "malformed").inc(malformed)
            if state.malformed:
                self.flusher.dead_letter(state)
        if batches:
            self._measure_lag()
        return queued

    def _measure_lag(self) -> None:
        assert self.consumer is not None
        behind = 0
        for state in list(self.states.values()):
            with contextlib.suppress(Exception):
                highwater = self.consumer.highwater(state.partition)
                if highwater is not None:
                    lag = state.lag(highwater)
                    CONSUMER_LAG.labels(SERVICE, self.group, self.settings.views_topic, str(state.partition)).set(lag)
                    behind += lag
        self.behind = behind


def collect_due_garbage() -> None:
    """The collection CPython would have started by itself while it was disabled: the oldest generation
    whose count is over its threshold (the allocations made meanwhile are counted)."""
    counts, thresholds = gc.get_count(), gc.get_threshold()
    for generation in (2, 1, 0):
        if counts[generation] > thresholds[generation]:
            gc.collect(generation)
            return


def _log_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("aggregator loop stopped", exc_info=task.exception())


def days_around(today: str) -> list[str]:
    """Yesterday and today: the days whose sketches an owner holds."""
    d = date.fromisoformat(today)
    return [(d - timedelta(days=1)).isoformat(), today]
