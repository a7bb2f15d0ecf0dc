"""The aggregator's flush: queued views → counter shards, dead letters → their topic, then the offsets → Kafka.

A flush tallies each partition's queue (``domain.partition``), reads the applied offsets ``o`` of the touched
shards it does not hold (the store answers those above the partition's watermark without a read), counts only the
records above each shard's ``o``, writes one bulk write per collection, and commits the partitions' positions only
after every write (and every dead letter) succeeded. See README.md "Exactness". :meth:`Flusher.write` and
:meth:`Flusher.commit` are the two moments where a crash matters: the exactness tests die there
(``tests/integration/viewstats/crashing_aggregator.py``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from prometheus_client import Counter as Metric
from prometheus_client import Histogram

from common.messaging import INFRA_UNAVAILABLE, DeadLetters
from common.observability import MESSAGES_CONSUMED
from viewstats.aggregator.clients import as_consumer_record
from viewstats.domain.counters import TOTAL, local_minute, shard_id, tally, without_resources
from viewstats.domain.partition import (
    PartitionState,
    merged_maps,
    remember_shards,
    remember_written,
    replayed_counts,
    replaying,
    sketches_due,
)
from viewstats.listing import ListedResources
from viewstats.settings import ViewstatsSettings
from viewstats.store import ABSENT, ViewStore, refused_for_good

if TYPE_CHECKING:
    from viewstats.aggregator.clients import ViewsConsumer

log = logging.getLogger("viewstats.aggregator")

SERVICE = "viewstats"
VIEWS = Metric("viewstats_views_counted_total", "Distinct views counted")
FLUSH_VIEWS = Histogram(
    "viewstats_flush_views",
    "Views written per flush (large while catching up, see Aggregator.run)",
    buckets=(100, 1_000, 10_000, 100_000, 1_000_000),
)
Work = tuple[PartitionState, int, int, set[tuple[str, str]]]  # (state, position, views, sketch groups)


class Flusher:
    def __init__(
        self,
        settings: ViewstatsSettings,
        store: ViewStore,
        listed: ListedResources,
        states: dict[int, PartitionState],
        dead_letters: DeadLetters | None,
    ) -> None:
        """``states``: the aggregator's own map of the partitions it owns (shared, not copied); ``dead_letters``:
        where unwritable records go (None: they are only logged and counted, for benchmarks)."""
        self.settings = settings
        self.store = store
        self.listed = listed
        self.states = states
        self.dead_letters = dead_letters
        self.consumer: ViewsConsumer | None = None  # set when the aggregator starts
        self.lock = asyncio.Lock()
        self.stopping = asyncio.Event()
        self.freshness_ms = 0  # time of the last completed flush (answers carry it)
        self.counted = 0
        self._dead_lettering: list[asyncio.Task[None]] = []

    async def flush(self, *, final: bool = False) -> None:
        """Write every partition's queued counts, then commit the partitions' positions. ``final`` (stop, revoke)
        also writes every changed sketch."""
        async with self.lock:
            assert self.consumer is not None
            started = time.monotonic()
            queued = sum(len(s.pending) for s in self.states.values())
            work: list[Work] = []
            for state in list(self.states.values()):
                position = state.position  # snapshot: the loop keeps reading while this flush writes
                if position < 0 or position < state.warm_until:
                    continue
                due = sketches_due(
                    state,
                    position,
                    final,
                    time.monotonic(),
                    self.settings.sketch_interval_seconds,
                    self.settings.dedup_window,
                )
                work.append((state, position, len(state.pending), due))
            # The malformed records up to the snapshot are committed only once they are parked in the DLQ.
            letters, self._dead_lettering = self._dead_lettering, []
            if letters:
                await asyncio.gather(*letters)
            # One partition after the other: FerretDB's SQLite backend has one writer per database anyway.
            failed: list[tuple[PartitionState, BaseException]] = []
            for st, pos, n, sk in work:
                if n or sk:
                    try:
                        await self.write(st, pos, n, sk)
                        st.failures = 0
                    except Exception as exc:
                        failed.append((st, exc))
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
                    self.store.distrust_watermark(state.partition)
                    state.uniques.dirty.update(sketches)
                raise next(exc for st, exc in failed if id(st) not in given_up)
            commits: dict[int, int] = {}
            for state, position, n, sketches in work:
                if sketches:
                    state.sketches_at = (time.monotonic(), position)
                state.pending.drop(n)
                commits[state.partition] = position + 1
            if written := sum(n for _, _, n, _ in work):
                FLUSH_VIEWS.observe(written)
            wrote = time.monotonic()
            if commits:
                await self.commit(commits)
                for state, position, *_ in work:
                    MESSAGES_CONSUMED.labels(SERVICE, self.settings.aggregator_group, self.settings.views_topic).inc(
                        max(0, position + 1 - state.committed)
                    )
                    state.committed = position + 1
            self.freshness_ms = int(time.time() * 1000)
            if queued:
                log.debug(
                    "flushed %d views: write %.3f s, commit %.3f s", queued, wrote - started, time.monotonic() - wrote
                )

    async def commit(self, offsets: dict[int, int]) -> None:
        """Commit the partitions' positions (partition → offset): every view below them is in the store."""
        assert self.consumer is not None
        await self.consumer.commit(offsets)

    async def write(self, state: PartitionState, position: int, n: int, sketch_groups: set[tuple[str, str]]) -> None:
        """Write the first ``n`` pending views of the partition (and the due sketches) up to ``position``."""
        counts = tally(state.pending.counts(n))
        ids = {key: shard_id(key, state.partition) for key in counts}
        missing = [i for i in ids.values() if i not in state.applied]
        if missing:
            remember_shards(state, await self.store.known_shard_states(state.partition, missing))
        if replaying(state, n, ids):
            log.info(
                "replay on partition %s: shards applied up to %s, batch from %s",
                state.partition,
                max(state.applied[i] for i in ids.values()),
                state.pending.first_offset(),
            )
            counts = replayed_counts(state, n, ids)
        # Views of ids the catalog did not publish count in every dimension but the per-resource one.
        named = {r for key, dims in counts.items() if key[0] == "d" and key != TOTAL for r in dims.get("res", ())}
        without_resources(counts, self.listed.unknown(named))
        resources, minutes = merged_maps(state, counts, ids, self.settings.resource_map_max_entries)
        sketches = await self._sketches(state, sketch_groups)
        absent = [i for i in ids.values() if state.applied[i] == ABSENT]  # read as missing, not written since
        await self.store.apply(state.partition, position, counts, resources, sketches, absent, minutes=minutes)
        state.popularity.add(counts, local_minute(int(time.time() * 1000)))
        n = remember_written(state, counts, ids, position, resources, minutes)
        self.counted += n
        VIEWS.inc(n)

    async def _sketches(
        self, state: PartitionState, sketch_groups: set[tuple[str, str]]
    ) -> dict[tuple[str, str], dict[str, bytes]]:
        """The due sketch groups, serialized. Those of a day this owner has not read yet (a late beacon) are merged
        with the stored ones first: a group's document is replaced whole."""
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
        return state.uniques.serialize(sketch_groups)

    # --- what cannot be written ---------------------------------------------------------------------------
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
        again from the first one (``domain.partition.park_records``), and count what follows as usual. An unordered
        bulk write may have reached some shards before it failed: those hold the views too (they are not counted
        twice by this owner: the shards' applied offsets are re-read), so a replay of the dead letters may count
        them again there."""
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
        self.store.distrust_watermark(state.partition)
        state.failures = 0
        if n:
            first = state.pending.first_offset()
            state.pending.drop(len(state.pending))
            state.parking = (position, error)
            state.position = first - 1
            self.consumer.start_at(state.partition, first)
        # With no view in it, the flush failed on sketches alone: they are dropped (not re-marked dirty).

    def dead_letter(self, state: PartitionState) -> None:
        """Park the partition's malformed records in the dead-letter topic (in the background; the next flush waits
        for them before it commits their offsets)."""
        topic = self.settings.views_topic
        letters, state.malformed = [(as_consumer_record(r, topic, state.partition), e) for r, e in state.malformed], []
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
                        if self.stopping.is_set():
                            raise  # not committed: the next owner reads the record and parks it
                        log.exception("dead-lettering failed; retrying")
                        await asyncio.sleep(1.0)

        self._dead_lettering.append(asyncio.create_task(park()))
