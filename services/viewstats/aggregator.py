"""The aggregator: views topic → counter shards, exactly once per distinct beacon, crash-safe.

Why not a ``ServiceKit.consumer``: exactness needs control the generic consumer does not give — per
partition state rebuilt at assignment (re-read the de-dup window *before* the committed offset), a flush
inside the revoke callback (so two owners never write one shard), and a hot path that parses raw bytes
with orjson instead of a pydantic model per record (≥ 100k views/s on one core).

The loop: ``getmany`` → per partition: skip warm-up records (they only refill the de-dup window), drop
retried beacons, collect ``(offset, key)``; every ``flush_max_records`` or ``flush_interval_seconds``:
tally → read the applied offsets ``o`` of the touched shards (cache, ``_id`` lookups on miss) → count only
records above each shard's ``o`` → one bulk write → commit the offsets. See README.md "Exactness".

What it shares with the chassis consumers: a record that is not a view beacon goes to ``<group>.dlq`` with
the chassis' ``dlq_*`` headers (``common.messaging.DeadLetters``) before its offset can be committed, and the
chassis metrics (messages consumed, failed, dead-lettered; lag per partition) are exported with the same
labels. It also publishes per-resource popularity (:mod:`viewstats.domain.popularity`) for the partitions
it owns: one publisher per resource, as one writer per shard.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import re
import signal
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import orjson
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition
from faststream.kafka import KafkaBroker
from prometheus_client import Counter as Metric
from prometheus_client import Histogram
from pymongo import AsyncMongoClient

from common.contracts.base import Event
from common.contracts.viewstats import ResourcePopularityChanged, ViewRecorded
from common.messaging import INFRA_UNAVAILABLE, DeadLetters, EventPublisher, kafka_broker, kafka_client_options
from common.observability import CONSUMER_LAG, MESSAGES_CONSUMED, MESSAGES_FAILED
from common.topics import group as declared_group
from viewstats.domain.beacon import parse_time_ms
from viewstats.domain.counters import (
    TOTAL,
    DedupWindow,
    PendingViews,
    ViewKey,
    local_minute,
    merge_capped,
    minute_label,
    shard_id,
    tally,
    tally_after,
    views_in,
    without_resources,
)
from viewstats.domain.popularity import DAY_HOURS, PopularityWindow, hour_labels, trend
from viewstats.domain.uniques import DailyUniques, DaySketches
from viewstats.listing import ListedResources
from viewstats.settings import ViewstatsSettings
from viewstats.store import ViewStore, refused_for_good

log = logging.getLogger("viewstats.aggregator")

VIEWS = Metric("viewstats_views_counted_total", "Distinct views counted")
DUPLICATES = Metric("viewstats_duplicate_beacons_total", "Beacons dropped as client retries")
FLUSH_VIEWS = Histogram(
    "viewstats_flush_views",
    "Views written per flush (large while catching up, see Aggregator.run)",
    buckets=(100, 1_000, 10_000, 100_000, 1_000_000),
)
SERVICE = "viewstats"
# How the aggregator fetches (the benchmark's bare-consumer baseline fetches the same way).
FETCH = {"max_partition_fetch_bytes": 4 * 1024 * 1024, "fetch_max_bytes": 32 * 1024 * 1024, "fetch_max_wait_ms": 100}
FETCH_RECORDS = 20_000  # records per getmany(): the batch the GC waits for
ABSENT = -2  # the applied offset of a shard the store did not have when read (below any record's offset)
Publish = Callable[[Sequence[Event]], Awaitable[None]]


@dataclass
class PartitionState:
    partition: int
    warm_until: int  # records below this offset were committed before: only refill the de-dup window
    dedup: DedupWindow
    uniques: DailyUniques = field(default_factory=DailyUniques)
    applied: dict[str, int] = field(default_factory=dict)  # shard id → applied offset (cache of the store)
    resources: dict[str, Counter[str]] = field(default_factory=dict)  # shard id → its stored per-resource map
    minute_maps: dict[str, dict[str, Counter[str]]] = field(default_factory=dict)  # minute shard id → its small maps
    sketch_days: set[str] = field(default_factory=set)  # days whose stored sketches are merged into `uniques`
    sketches_at: tuple[float, int] = (0.0, -1)  # (monotonic time, position) of the last sketch write
    pending: PendingViews = field(default_factory=PendingViews)
    position: int = -1  # highest offset read
    committed: int = 0  # next offset to read after a restart (what was committed last)
    malformed: list[tuple[ConsumerRecord, str]] = field(default_factory=list)  # to dead-letter
    popularity: PopularityWindow = field(default_factory=PopularityWindow)
    published: dict[str, tuple[int, int, str]] = field(default_factory=dict)  # resource → last popularity sent
    ready: bool = False  # sketches and popularity loaded: the partition is resumed
    # No minute shard of this partition above this label exists (the store's watermark, raised before each write of
    # newer minutes); None: unknown, read every shard (after a failed flush: a zombie owner may have written some).
    minutes_above: str | None = None
    failures: int = 0  # flushes in a row whose write of this partition failed for another reason than an outage
    # Records up to this offset are re-read to go to the dead-letter topic with this error: a write of them failed
    # in a way no retry can fix (see Aggregator._give_up).
    parking: tuple[int, str] | None = None

    def forget_shards(self) -> None:
        """Drop the cached shard states together (a stored map is only valid with its applied offset)."""
        self.applied.clear()
        self.resources.clear()
        self.minute_maps.clear()


class Aggregator:
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
        self.publish = publish
        self.group = settings.aggregator_group
        self.dead_letters = (
            DeadLetters(
                broker,
                service=SERVICE,
                group=self.group,
                topic=declared_group("viewstats-aggregator").dead_letter_topic,
            )
            if broker is not None
            else None
        )
        self._dead_lettering: list[asyncio.Task[None]] = []
        self._popularity_task: asyncio.Task[None] | None = None
        self._retention_task: asyncio.Task[None] | None = None
        self._preparing: set[asyncio.Task[None]] = set()
        self.states: dict[int, PartitionState] = {}
        self.listed = ListedResources(store, settings.listing_refresh_seconds)
        self._listing: asyncio.Task[None] | None = None
        self.consumer: AIOKafkaConsumer | None = None
        self.freshness_ms = 0  # time of the last completed flush (answers carry it)
        self.counted = 0
        self.behind = 0  # records not yet read, summed over the owned partitions (measured at each fetch)
        self._stopping = asyncio.Event()
        self._closing = False
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        # Crash points for the exactness tests (``VIEWSTATS_CRASH_AT`` of the standalone process): "write" dies
        # after the first partition's shards of a flush are written, "commit" after all writes, before the commit.
        self.crash_at: str | None = None
        self.crash_after_flushes = 0

    # --- lifecycle --------------------------------------------------------------------------------------
    async def start(self) -> None:
        s = self.settings
        self.consumer = AIOKafkaConsumer(
            **kafka_client_options(s),
            group_id=s.kafka_client_prefix + s.aggregator_group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            **FETCH,
            group_instance_id=s.instance_id,
            session_timeout_ms=s.session_timeout_ms,
        )
        # The catalog's resource ids are read while the consumer joins its group (a flush needs them).
        self._listing = asyncio.create_task(self.listed.refresh(), name="viewstats-listing-first-read")
        self.consumer.subscribe([s.views_topic], listener=_Listener(self))
        await self.consumer.start()
        self._task = asyncio.create_task(self.run(), name="viewstats-aggregator")
        self._task.add_done_callback(_log_crash)
        if self.publish is not None:
            self._popularity_task = asyncio.create_task(self._popularity_loop(), name="viewstats-popularity")
        self._retention_task = asyncio.create_task(self._retention_loop(), name="viewstats-retention")

    async def stop(self) -> None:
        self._stopping.set()
        for task in list(self._preparing):
            task.cancel()
        await asyncio.gather(*self._preparing, return_exceptions=True)
        await self.listed.stop()
        if self._listing is not None:
            self._listing.cancel()
            await asyncio.gather(self._listing, return_exceptions=True)
        for task in (self._popularity_task, self._retention_task):
            if task:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._task:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self.consumer:
            await self.flush(final=True)
            self._closing = True  # leaving the group revokes: nothing is pending any more, and a commit
            await self.consumer.stop()  # from inside the close would wait for the closing coordinator

    # --- assignment -------------------------------------------------------------------------------------
    async def assigned(self, tps: set[TopicPartition]) -> None:
        """Take the partitions over: only Kafka calls here. aiokafka sends no heartbeats while this callback
        runs, so one that reads the store for a dozen partitions outlives the session timeout on a big store,
        the coordinator drops the member, and the rejoin calls it again, forever. The store reads (sketches,
        popularity) happen in :meth:`_prepare` with the partitions paused; each resumes once it is ready."""
        assert self.consumer is not None
        if not tps:
            return
        beginnings = await self.consumer.beginning_offsets(list(tps))
        fresh: list[PartitionState] = []
        for tp in sorted(tps):
            committed = await self.consumer.committed(tp)
            committed = beginnings[tp] if committed is None else committed
            start = max(beginnings[tp], committed - self.settings.dedup_window)
            state = PartitionState(tp.partition, committed, DedupWindow(self.settings.dedup_window))
            state.committed = committed
            self.states[tp.partition] = state
            self.consumer.pause(tp)
            self.consumer.seek(tp, start)
            fresh.append(state)
            log.info("partition %s assigned: committed %s, warm-up from %s", tp.partition, committed, start)
        task = asyncio.create_task(self._prepare(fresh), name="viewstats-prepare")
        self._preparing.add(task)
        task.add_done_callback(self._preparing.discard)
        task.add_done_callback(_log_crash)

    async def _prepare(self, states: list[PartitionState]) -> None:
        """Load what the owner of these partitions keeps in memory (one store read each for all of them), then
        let the loop read them. A store outage delays the partitions, it never resumes one half-loaded; those
        revoked meanwhile are left alone (an assignment again prepares its own states)."""
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
                if not self.listed.loaded:  # the first read (started with the consumer) failed or is running
                    if self._listing is None or self._listing.done():
                        self._listing = asyncio.create_task(self.listed.refresh())
                    await asyncio.shield(self._listing)
                sketches = await self.store.load_sketches(partitions, _days_around(today))
                watermarks = await self.store.minute_watermarks(partitions)
                minute = local_minute(int(time.time() * 1000))
                hours = (
                    await self.store.partition_resources("h", hour_labels(minute, DAY_HOURS + 1), partitions)
                    if self.publish is not None
                    else {}
                )
                break
            except Exception:
                log.exception("loading partitions %s failed; retrying in %.1f s", partitions, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
        for st in states:
            if self.states.get(st.partition) is not st:
                continue
            for day, scope, blob in sketches[st.partition]:
                st.uniques.load(day, scope, blob)
            st.sketch_days.update(_days_around(today))
            st.minutes_above = watermarks[st.partition]
            if self.publish is not None:
                st.popularity.seed(minute, hours[st.partition])
            st.ready = True
            self.consumer.resume(TopicPartition(self.settings.views_topic, st.partition))
        log.info("partitions %s loaded in %.1f s", partitions, time.monotonic() - started)

    async def revoked(self, tps: set[TopicPartition]) -> None:
        if not self._closing:
            await self.flush(final=True)  # before another consumer may own these shards
        for tp in tps:
            self.states.pop(tp.partition, None)

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
            while not self._stopping.is_set():
                # The cyclic GC waits until this batch's records are garbage. Collections in the middle of one
                # found tens of thousands of records alive, promoted them to the oldest generation and so
                # triggered full collections: nearly a third of the aggregator's time went to the GC.
                gc.disable()
                try:
                    pending += self._ingest_all(await self.consumer.getmany(timeout_ms=100, max_records=FETCH_RECORDS))
                finally:
                    gc.enable()
                    collect_due_garbage()
                # getmany() returns buffered records without suspending, and a fetch holds hundreds of thousands
                # of them while catching up (lz4 batches): without a yield here, the consumer's heartbeats, the
                # flush's store I/O and the next fetch all waited until the buffer was drained (a replayed day
                # had its heartbeat session expire, and rebalanced).
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
                if self._stopping.is_set():
                    raise
                log.exception("flush failed; retrying in %.1f s", delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)

    def _ingest_all(self, batches: dict[TopicPartition, list[ConsumerRecord]]) -> int:
        queued = 0
        for tp, records in batches.items():
            state = self.states.get(tp.partition)
            if state is None:  # revoked meanwhile
                continue
            if state.parking is not None:
                records = self._park_records(state, records)
            queued += self.ingest(state, records)
            if state.malformed:
                self._dead_letter(state)
        if batches:
            self._measure_lag()
        return queued

    def _park_records(self, state: PartitionState, records: list) -> list:
        """The records of a flush that can never be written go to the dead-letter topic (committed once parked,
        like malformed ones); returns the records after them, which are counted as usual."""
        assert state.parking is not None
        until, error = state.parking
        for r in records:
            if r.offset > until:
                break
            event_id, _ = _ce_id_and_type(r.headers)
            if event_id is not None:
                state.dedup.seen(event_id, r.offset)  # the window decides later records as a restarted owner would
            MESSAGES_FAILED.labels(SERVICE, self.group, r.topic, "handler_error").inc()
            state.malformed.append((r, error))
            state.position = r.offset
        if records and records[-1].offset >= until:
            state.parking = None
        return [r for r in records if r.offset > until]

    def ingest(self, state: PartitionState, records: list) -> int:
        """Parse, de-duplicate and queue one partition's records; returns how many were queued."""
        seen, append, warm_until = state.dedup.seen, state.pending.append, state.warm_until
        days: dict[int, DaySketches] = {}  # minute → its day's sketches
        minutes: dict[str | None, int] = {}
        queued = 0
        for r in records:
            try:
                # Inside the try: a header that is not UTF-8 is a malformed beacon (dead-lettered), not a stall.
                event_id, event_type = _ce_id_and_type(r.headers)
                if event_id is None or event_type != ViewRecorded.TYPE:
                    raise ValueError(
                        f"not a {ViewRecorded.TYPE} CloudEvent (ce_id {event_id!r}, ce_type {event_type!r})"
                    )
                d = orjson.loads(r.value)
                viewed_at = d["viewed_at"]
                # The collector writes "YYYY-MM-DDTHH:MM:SS.mmmZ": a second seen once in the batch is not parsed
                # again (the milliseconds cannot change the minute, and are checked to be digits).
                second = viewed_at[:19] if _CANONICAL_TIME.match(viewed_at) else None
                minute = minutes.get(second)
                if minute is None:
                    minute = local_minute(parse_time_ms(viewed_at))
                    if second:
                        minutes[second] = minute
                key: ViewKey = (
                    minute,
                    d["resource_id"],
                    d["section"],
                    d["province"] or "none",
                    d["country"],
                )
                visitor = d["visitor_id"]
            except Exception as exc:
                if r.offset >= warm_until:  # a warm-up record was dead-lettered by the previous owner
                    MESSAGES_FAILED.labels(SERVICE, self.group, r.topic, "malformed").inc()
                    state.malformed.append((r, f"malformed view beacon: {type(exc).__name__}: {exc}"))
                continue
            duplicate = seen(event_id, r.offset)
            sketches = days.get(minute)
            if sketches is None:
                sketches = days[minute] = state.uniques.day(minute_label(minute)[2])
            sketches.add(visitor, key[1], d["province"])  # idempotent: warm-up and replays are harmless
            if r.offset < warm_until:
                continue
            if duplicate:
                DUPLICATES.inc()
                continue
            append(r.offset, key)
            queued += 1
        if records:
            state.position = records[-1].offset
        return queued

    async def flush(self, *, final: bool = False) -> None:
        """Write every partition's queued counts, then commit the partitions' positions. ``final`` (stop, revoke)
        also writes every changed sketch."""
        async with self._lock:
            assert self.consumer is not None
            started = time.monotonic()
            queued = sum(len(s.pending) for s in self.states.values())
            commits: dict[TopicPartition, int] = {}
            work = []
            for state in list(self.states.values()):
                position = state.position  # snapshot: the loop keeps reading while this flush writes
                if position < 0 or position < state.warm_until:
                    continue
                n = len(state.pending)
                work.append((state, position, n, self._sketches_due(state, position, final)))
            # The malformed records up to the snapshot are committed only once they are parked in the DLQ.
            letters, self._dead_lettering = self._dead_lettering, []
            if letters:
                await asyncio.gather(*letters)
            # One partition after the other: FerretDB's SQLite backend has one writer per database anyway.
            failed: list[tuple[PartitionState, BaseException]] = []
            for st, pos, n, sk in work:
                if n or sk:
                    try:
                        await self._apply(st, pos, n, sk)
                        st.failures = 0
                    except Exception as exc:
                        failed.append((st, exc))
                    self._crash_point("write")
            # A write that can never succeed must not stall the partition (and with it every partition's commits):
            # its records go to the dead-letter topic and the partition moves on. Outages are retried.
            given_up = {id(st) for st, exc in failed if self._give_up(st, exc)}
            for st, pos, n, _sketches in [w for w in work if id(w[0]) in given_up]:
                self._park_flush(st, pos, n, next(e for s, e in failed if s is st))
            work = [w for w in work if id(w[0]) not in given_up]
            if len(given_up) < len(failed):
                # An unordered bulk write may have reached some shards: forget the cached offsets so the
                # retry reads them again and counts each shard exactly once. Nothing is committed.
                for state, _pos, _n, sketches in work:
                    state.forget_shards()
                    state.minutes_above = None
                    state.uniques.dirty.update(sketches)
                raise next(exc for st, exc in failed if id(st) not in given_up)
            for state, position, n, sketches in work:
                if sketches:
                    state.sketches_at = (time.monotonic(), position)
                state.pending.drop(n)
                commits[TopicPartition(self.settings.views_topic, state.partition)] = position + 1
            if written := sum(n for _, _, n, _ in work):
                FLUSH_VIEWS.observe(written)
            wrote = time.monotonic()
            if commits:
                self._crash_point("commit")
                await self.consumer.commit(commits)
                for state, position, *_ in work:
                    MESSAGES_CONSUMED.labels(SERVICE, self.group, self.settings.views_topic).inc(
                        max(0, position + 1 - state.committed)
                    )
                    state.committed = position + 1
            self.freshness_ms = int(time.time() * 1000)
            if queued:
                log.debug(
                    "flushed %d views: write %.3f s, commit %.3f s", queued, wrote - started, time.monotonic() - wrote
                )

    def _give_up(self, state: PartitionState, exc: BaseException) -> bool:
        """Whether a partition's failed write is to be dead-lettered rather than retried: never for an outage of the
        store or Kafka; at once for a write the store refuses as such (a document over 16 MiB, a field it
        rejects); after ``consumer_max_attempts`` failures in a row for anything else (the chassis' rule)."""
        if isinstance(exc, INFRA_UNAVAILABLE):
            return False
        state.failures += 1
        return refused_for_good(exc) or state.failures >= self.settings.consumer_max_attempts

    def _park_flush(self, state: PartitionState, position: int, n: int, exc: BaseException) -> None:
        """Send the records of a partition's failed flush to the dead-letter topic: drop what is queued, read them
        again from the first one (``_park_records``), and count what follows as usual. An unordered bulk write may
        have reached some shards before it failed: those hold the views too (they are not counted twice by this
        owner: the shards' applied offsets are re-read), so a replay of the dead letters may count them again there."""
        assert self.consumer is not None
        error = f"views not writable: {type(exc).__name__}: {exc}"[:2000]
        log.error(
            "partition %s: flush up to offset %s can never be written (%s): dead-lettering",
            state.partition,
            position,
            error,
            exc_info=exc,
        )
        state.forget_shards()
        state.minutes_above = None
        state.failures = 0
        if n:
            first = state.pending.first_offset()
            state.pending.drop(len(state.pending))
            state.parking = (position, error)
            state.position = first - 1
            self.consumer.seek(TopicPartition(self.settings.views_topic, state.partition), first)
        # With no view in it, the flush failed on sketches alone: they are dropped (not re-marked dirty).

    def _sketches_due(self, state: PartitionState, position: int, final: bool) -> set[tuple[str, str]]:
        """The sketch groups to write with this flush. Sketches are idempotent and a restart re-adds the de-dup
        window before its committed offset to them (warm-up), so they may lag the commit by less than that:
        they are written every ``sketch_interval_seconds`` or once the commit would get half a window ahead."""
        at, written = state.sketches_at
        if (
            final
            or time.monotonic() - at >= self.settings.sketch_interval_seconds
            or position - written >= self.settings.dedup_window // 2
        ):
            return state.uniques.take_dirty()
        return set()

    async def _apply(
        self,
        state: PartitionState,
        position: int,
        n: int,
        sketch_groups: set[tuple[str, str]],
    ) -> None:
        """Write the first ``n`` pending views of the partition (and the due sketches) up to ``position``."""
        pending = state.pending
        counts = tally(pending.counts(n))
        ids = {key: shard_id(key, state.partition) for key in counts}
        # Shards above the watermark cannot exist (nor the hour or day shards of later hours and days: they are
        # written with their minutes): known absent without a read.
        above = state.minutes_above
        if above is not None:
            for key, i in ids.items():
                if i in state.applied or key == TOTAL:
                    continue
                if key[0] == "m" and key[2:] > above:
                    state.applied[i], state.minute_maps[i] = ABSENT, {}
                elif (key[0] == "h" and key[2:] > above[:13]) or (key[0] == "d" and key[2:] > above[:10]):
                    state.applied[i], state.resources[i] = ABSENT, Counter()
        missing = [i for i in ids.values() if i not in state.applied]
        if missing:
            found = await self.store.shard_states(missing)
            for i in missing:
                state.applied[i], stored = found.get(i, (ABSENT, None))
                if i[0] in "hd" and not i.startswith(TOTAL):
                    state.resources[i] = stored or Counter()
                elif i[0] == "m":
                    state.minute_maps[i] = stored or {}
        if n and any(state.applied[i] >= pending.first_offset() for i in ids.values()):
            # replay after a crash: some shards already hold part of these records
            log.info(
                "replay on partition %s: shards applied up to %s, batch from %s",
                state.partition,
                max(state.applied[i] for i in ids.values()),
                pending.first_offset(),
            )
            counts = tally_after(pending.records(n), {key: state.applied[i] for key, i in ids.items()})
        # Views of ids the catalog did not publish count in every dimension but the per-resource one.
        named = {r for key, dims in counts.items() if key[0] == "d" and key != TOTAL for r in dims.get("res", ())}
        without_resources(counts, self.listed.unknown(named))
        # The whole per-resource map of each hour and day shard is written (one binary field): the stored one,
        # which this partition's owner alone writes, plus this flush's, capped.
        cap = self.settings.resource_map_max_entries
        resources = {}
        minutes: dict[str, dict[str, Counter[str]]] = {}  # the same for a minute shard's small maps
        for key, dims in counts.items():
            if key[0] in "hd" and key != TOTAL and dims.get("res"):
                resources[key] = merge_capped(state.resources[ids[key]], dims["res"], cap)
            elif key[0] == "m":
                stored = state.minute_maps[ids[key]]
                whole = minutes[key] = {d: Counter(c) for d, c in stored.items()}
                for d, c in dims.items():
                    if d != "res":
                        whole.setdefault(d, Counter()).update(c)
        # Sketches of a day this owner has not read yet (a late beacon) are merged with the stored ones first:
        # a group's document is replaced whole.
        new_days = {day for day, _ in sketch_groups} - state.sketch_days
        if new_days:
            stored = await self.store.load_sketches([state.partition], sorted(new_days))
            for day, scope, blob in stored[state.partition]:
                state.uniques.load(day, scope, blob)
            state.sketch_days |= new_days
        for day, kind in sketch_groups:
            if kind == "res" and (held := state.uniques.days.get(day)) is not None:
                unlisted = self.listed.unknown(held.res)
                state.uniques.screen_resources(day, unlisted, self.settings.resource_sketch_max_entries)
        sketches = state.uniques.serialize(sketch_groups)
        offset = position  # every record up to here is in this flush or was not to be counted
        absent = [i for i in ids.values() if state.applied[i] == ABSENT]  # read as missing, not written since
        newest = max((key[2:] for key in counts if key[0] == "m"), default="")
        if above is not None and newest > above:
            await self.store.announce_minutes(state.partition, newest)  # before any shard above the old mark
            state.minutes_above = newest
        await self.store.apply(state.partition, offset, counts, resources, sketches, absent, minutes=minutes)
        state.popularity.add(counts, local_minute(int(time.time() * 1000)))
        for key in counts:
            state.applied[ids[key]] = offset
        state.resources.update({ids[key]: merged for key, merged in resources.items()})
        state.minute_maps.update({ids[key]: whole for key, whole in minutes.items()})
        n = views_in(counts.get(TOTAL, {}))
        self.counted += n
        VIEWS.inc(n)
        if len(state.applied) > 50_000 or len(state.resources) > 512 or len(state.minute_maps) > 4096:
            state.forget_shards()  # re-read from the store on the next miss

    def _crash_point(self, point: str) -> None:
        if self.crash_at == point:
            self.crash_after_flushes -= 1
            if self.crash_after_flushes < 0:
                log.warning("crash point %s reached: SIGKILL", point)
                os.kill(os.getpid(), signal.SIGKILL)

    # --- dead letters and lag -----------------------------------------------------------------------------
    def _dead_letter(self, state: PartitionState) -> None:
        letters, state.malformed = state.malformed, []
        for record, error in letters:
            log.warning("malformed record %s[%d]@%d: %s", record.topic, record.partition, record.offset, error)
        if self.dead_letters is None:
            return
        dead_letters = self.dead_letters

        async def park() -> None:
            for record, error in letters:
                while True:  # like a flush: an outage delays the commit, it never drops the letter
                    try:
                        await dead_letters.park(record, error)
                        break
                    except Exception:
                        if self._stopping.is_set():
                            raise  # not committed: the next owner reads the record and parks it
                        log.exception("dead-lettering failed; retrying")
                        await asyncio.sleep(1.0)

        self._dead_lettering.append(asyncio.create_task(park()))

    def _measure_lag(self) -> None:
        assert self.consumer is not None
        behind = 0
        for state in list(self.states.values()):
            tp = TopicPartition(self.settings.views_topic, state.partition)
            with contextlib.suppress(Exception):
                highwater = self.consumer.highwater(tp)
                if highwater is not None and state.position >= 0:
                    lag = max(0, highwater - state.position - 1)
                    CONSUMER_LAG.labels(SERVICE, self.group, tp.topic, str(tp.partition)).set(lag)
                    behind += lag
        self.behind = behind

    # --- retention ----------------------------------------------------------------------------------------
    async def _retention_loop(self) -> None:
        """Hourly, drop the minute shards older than ``minute_retention_days`` (every instance may: dropping a
        dropped collection is a no-op), and forget the sketches of the days before yesterday held in memory."""
        while True:
            await asyncio.sleep(60)
            now = local_minute(int(time.time() * 1000))
            await self.forget_old_sketches(minute_label(now)[2])
            cutoff = minute_label(now - self.settings.minute_retention_days * 24 * 60)[1]
            try:
                if dropped := await self.store.drop_minutes_before(cutoff):
                    log.info("minute retention: dropped %s", ", ".join(dropped))
            except Exception:
                log.exception("minute retention failed; next round in an hour")
            await asyncio.sleep(3600 - 60)

    async def forget_old_sketches(self, today: str) -> None:
        """Without this, every day ever counted would stay in memory (≈ 20,000 resource sketches a day). A late view
        of a forgotten day has its stored sketches read again first (``sketch_days``). Under the flush lock: a
        flush in progress may put its groups back into ``dirty`` if its write fails, and those must be kept."""
        yesterday = _days_around(today)[0]
        async with self._lock:
            for state in self.states.values():
                state.sketch_days.difference_update(state.uniques.forget_days_before(yesterday))

    # --- popularity ---------------------------------------------------------------------------------------
    async def _popularity_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.popularity_interval_seconds)
            try:
                await self.publish_popularity()
            except Exception:
                log.exception(
                    "publishing popularity failed; next round in %.0f s", self.settings.popularity_interval_seconds
                )

    async def publish_popularity(self, now_ms: int | None = None) -> int:
        """Publish the popularity of the owned partitions' resources whose figures changed since the last
        round (a resource that left the windows gets one last all-zero event); returns how many were sent."""
        assert self.publish is not None
        now_ms = now_ms or int(time.time() * 1000)
        minute = local_minute(now_ms)
        as_of = datetime.fromtimestamp(now_ms / 1000, UTC)
        sent = 0
        for state in [st for st in self.states.values() if st.ready]:  # a seeding window would publish drops
            current = {
                r: (hour, day, trend(hour, before))
                for r, (hour, before, day) in state.popularity.snapshot(minute).items()
            }
            for gone in state.published.keys() - current.keys():
                current[gone] = (0, 0, "steady")
            changed = {r: v for r, v in current.items() if state.published.get(r) != v}
            if not changed:
                continue
            await self.publish(
                [
                    ResourcePopularityChanged(
                        resource_id=r, views_last_hour=hour, views_last_day=day, trend=t, as_of=as_of
                    )
                    for r, (hour, day, t) in sorted(changed.items())
                ]
            )
            for r, v in changed.items():
                if v[:2] == (0, 0):
                    state.published.pop(r, None)
                else:
                    state.published[r] = v
            sent += len(changed)
        return sent


class _Listener(ConsumerRebalanceListener):
    def __init__(self, aggregator: Aggregator) -> None:
        self.aggregator = aggregator

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self.aggregator.revoked(revoked)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        await self.aggregator.assigned(assigned)


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


_CANONICAL_TIME = re.compile(r".{19}\.\d{3}Z\Z")


def _ce_id_and_type(headers) -> tuple[str | None, str | None]:
    h = dict(headers or ())  # built in C; the last of repeated headers wins, as in Kafka's lastHeader()
    event_id, event_type = h.get("ce_id"), h.get("ce_type")
    return (
        event_id.decode() if event_id is not None else None,
        event_type.decode() if event_type is not None else None,
    )


def _days_around(today: str) -> list[str]:
    from datetime import date, timedelta

    d = date.fromisoformat(today)
    return [(d - timedelta(days=1)).isoformat(), today]


async def main() -> None:
    """Run the aggregator alone (``python -m viewstats.aggregator``): the process the crash test kills."""
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"), format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("viewstats").setLevel(os.environ.get("VIEWSTATS_LOG_LEVEL", "INFO"))
    settings = ViewstatsSettings()
    client: AsyncMongoClient = AsyncMongoClient(
        settings.mongodb_url, tz_aware=True, maxPoolSize=settings.mongodb_max_pool_size
    )
    broker = kafka_broker(settings, client_id="smartedu-viewstats", enable_idempotence=True)
    await broker.connect()
    publisher = EventPublisher(broker, SERVICE)
    aggregator = Aggregator(settings, ViewStore(client[settings.database_name()]), broker, publisher.publish_many)
    if crash := os.environ.get("VIEWSTATS_CRASH_AT"):  # "write:3": die at that point of the 4th flush reaching it
        aggregator.crash_at, _, after = crash.partition(":")
        aggregator.crash_after_flushes = int(after or 0)
    await aggregator.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await aggregator.stop()
    await broker.stop()
    await client.close()


if __name__ == "__main__":
    asyncio.run(main())
