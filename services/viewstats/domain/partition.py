"""One partition of the views topic as its owner counts it: de-duplication, queueing and the shard maps to write.
Pure (no I/O): the aggregator (``viewstats.aggregator``) reads the records and writes what this computes.

A record's life: :func:`ingest` parses it (msgspec on the raw bytes, not a pydantic model per record: ≥ 100k
views/s on one core), drops a client's retry (the de-dup window), adds the visitor to the day's sketches and queues
``(offset, key)``; records below ``warm_until`` were committed by a previous owner and only refill the window. A
flush then tallies the queue (:func:`replayed_counts`: only what a shard does not hold yet, after a crash), merges
the whole maps its shards carry (:func:`merged_maps`) and, once written, remembers what the store now holds
(:func:`remember_written`).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from common.contracts.viewstats import ViewRecorded
from viewstats.domain.beacon import parse_time_ms
from viewstats.domain.counters import (
    TOTAL,
    DedupWindow,
    DocCounts,
    PendingViews,
    ViewKey,
    local_minute,
    merge_capped,
    minute_label,
    tally_after,
    views_in,
)
from viewstats.domain.popularity import PopularityWindow, trend
from viewstats.domain.uniques import DailyUniques, DaySketches
from viewstats.wire import VIEW_BODY, not_a_view

Popularity = tuple[int, int, str]  # (views last hour, views last day, trend)


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
    malformed: list[tuple[Any, str]] = field(default_factory=list)  # (record, error) to dead-letter
    popularity: PopularityWindow = field(default_factory=PopularityWindow)
    published: dict[str, Popularity] = field(default_factory=dict)  # resource → last popularity sent
    ready: bool = False  # sketches and popularity loaded: the partition is resumed
    failures: int = 0  # flushes in a row whose write of this partition failed for another reason than an outage
    # Records up to this offset are re-read to go to the dead-letter topic with this error: a write of them failed
    # in a way no retry can fix (see the aggregator's ``give_up``).
    parking: tuple[int, str] | None = None

    def lag(self, highwater: int) -> int:
        """Records not read yet, up to ``highwater``: counted from the further of what was read and what was
        committed. A partition assigned but not fetched from yet is behind by what lies past its committed offset
        (not by nothing: counting it as caught up once made an aggregator catching up flush at the live limits);
        one whose records all expired is behind by nothing."""
        return max(0, highwater - max(self.position + 1, self.committed))

    def forget_shards(self) -> None:
        """Drop the cached shard states together (a stored map is only valid with its applied offset)."""
        self.applied.clear()
        self.resources.clear()
        self.minute_maps.clear()


# --- reading -------------------------------------------------------------------------------------------------
_VIEW_TYPE = ViewRecorded.TYPE.encode()  # compared as bytes: ce_type is not decoded per record
# The collector writes "YYYY-MM-DDTHH:MM:SS.mmmZ": a time ending in one of these tails is read by its second, and a
# second seen once in the batch is not parsed again (the milliseconds cannot change the minute).
_CANONICAL_TAILS = frozenset(f".{ms:03d}Z" for ms in range(1000))


def ingest_python(state: PartitionState, records: list) -> tuple[int, int, int]:
    """Parse, de-duplicate and queue one partition's records, rows ``(offset, headers, value, record)`` whichever
    client read them (``record`` is the client's own, kept only to dead-letter it); returns how many were queued,
    dropped as retries, and found malformed (appended to ``state.malformed`` with their error).

    One pass over the batch with no function call of ours per record (they were a third of the aggregator's time):
    the two CloudEvents headers picked in one scan of the headers (cheaper than a ``dict`` of all seven),
    ``ce_type`` compared as bytes, the event id kept as bytes (the de-dup window's key: no decode per record), the
    body decoded into a typed struct (``wire.VIEW_BODY``), the de-dup window's map updated inline (pruned once per
    batch: when changes no decision), the three sketch updates on sketches looked up per minute of the batch, and the
    queue's key numbers appended to lists the queue takes at the end. Decides exactly as a call of
    ``ce_id_and_type``, ``DedupWindow.seen``, ``DaySketches.add`` and ``PendingViews.append`` per record would
    (``tests/unit/viewstats/test_ingest.py`` compares the two)."""
    if not records:
        return 0, 0, 0
    dedup, uniques, warm_until = state.dedup, state.uniques, state.warm_until
    last_of, window = dedup.last, dedup.window
    last_get = last_of.get
    number_of, keys = state.pending.numbering()
    number_get = number_of.get
    offsets: list[int] = []
    numbers: list[int] = []
    days: dict[int, tuple[Any, dict, dict, DaySketches]] = {}  # minute → its day's sketches
    seconds: dict[str, int] = {}  # "YYYY-MM-DDTHH:MM:SS" → minute
    decode, tails, view_type = VIEW_BODY.decode, _CANONICAL_TAILS, _VIEW_TYPE
    duplicates = malformed = 0
    for offset, headers, value, record in records:
        try:
            event_id = raw_type = None
            for name, header in headers or ():  # the last of repeated headers wins, as Kafka's lastHeader()
                if name == "ce_id":
                    event_id = header
                elif name == "ce_type":
                    raw_type = header
            if event_id is None or raw_type != view_type:
                raise ValueError(not_a_view(event_id, raw_type))
            # Inside the try: an id that is not UTF-8 is a malformed beacon (dead-lettered), not a stall. The
            # window keys ids by their bytes; an ASCII id (every UUID) is valid UTF-8 without decoding it.
            if not event_id.isascii():
                event_id.decode()
            v = decode(value)
            viewed_at = v.viewed_at
            if viewed_at[19:] in tails:
                second = viewed_at[:19]
                minute = seconds.get(second)
                if minute is None:
                    minute = seconds[second] = local_minute(parse_time_ms(viewed_at))
            else:
                minute = local_minute(parse_time_ms(viewed_at))
            resource, province, visitor = v.resource_id, v.province, v.visitor_id
            key: ViewKey = (minute, resource, v.section, province or "none", v.country)
        except Exception as exc:
            if offset >= warm_until:  # a warm-up record was dead-lettered by the previous owner
                malformed += 1
                state.malformed.append((record, f"malformed view beacon: {type(exc).__name__}: {exc}"))
            continue
        last = last_get(event_id)
        last_of[event_id] = offset
        day = days.get(minute)
        if day is None:
            sketches = uniques.day(minute_label(minute)[2])
            day = days[minute] = (sketches.all.update, sketches.res, sketches.prov, sketches)
        add_all, by_resource, by_province, sketches = day
        # idempotent: warm-up and replays are harmless
        add_all(visitor)
        s = by_resource.get(resource)
        if s is None:
            s = sketches.resource(resource)
        s.update(visitor)
        if province:
            s = by_province.get(province)
            if s is None:
                s = sketches.province(province)
            s.update(visitor)
        if offset < warm_until:
            continue
        if last is not None and last < offset and offset - last <= window:
            duplicates += 1
            continue
        number = number_get(key)
        if number is None:
            number = number_of[key] = len(keys)
            keys.append(key)
        offsets.append(offset)
        numbers.append(number)
    state.position = records[-1][0]
    dedup.prune(state.position)
    state.pending.extend(offsets, numbers)
    return len(offsets), duplicates, malformed


try:  # the same reader compiled with C types (``_reader.pyx``; ``make python`` and the image's build stage build it)
    from viewstats.domain._reader import ingest
except ImportError:  # a source checkout without the build step: the same decisions, ≈ 1/3 slower
    ingest = ingest_python
READER = "python" if ingest is ingest_python else "compiled"  # logged and exported at the aggregator's start


def raw_event_id(headers: Any) -> bytes | None:
    """The ``ce_id`` header's bytes (the last one, as :func:`ingest` reads it): the de-dup window's key; None when
    absent or not UTF-8 (a record :func:`ingest` finds malformed, which never enters the window)."""
    event_id = None
    for name, header in headers or ():
        if name == "ce_id":
            event_id = header
    if event_id is not None and not event_id.isascii():
        try:
            event_id.decode()
        except UnicodeDecodeError:
            return None
    return event_id


def park_records(state: PartitionState, records: list) -> tuple[list, int]:
    """The records of a flush that can never be written go to ``state.malformed`` (dead-lettered, committed once
    parked); returns the records after them, which are counted as usual, and how many were parked."""
    assert state.parking is not None
    until, error = state.parking
    records = [row for item in records for row in (item.rows() if hasattr(item, "rows") else (item,))]  # batches: rows
    parked = 0
    for offset, headers, _value, record in records:
        if offset > until:
            break
        event_id = raw_event_id(headers)
        if event_id is not None:
            state.dedup.seen(event_id, offset)  # the window decides later records as a restarted owner would
        parked += 1
        state.malformed.append((record, error))
        state.position = offset
    if records and records[-1][0] >= until:
        state.parking = None
    return [r for r in records if r[0] > until], parked


# --- flushing ------------------------------------------------------------------------------------------------
def sketches_due(
    state: PartitionState, position: int, final: bool, now: float, interval: float, window: int
) -> set[tuple[str, str]]:
    """The sketch groups to write with this flush. Sketches are idempotent and a restart re-adds the de-dup window
    before its committed offset to them (warm-up), so they may lag the commit by less than that: they are written
    every ``interval`` seconds or once the commit would get half a ``window`` ahead."""
    at, written = state.sketches_at
    if final or now - at >= interval or position - written >= window // 2:
        return state.uniques.take_dirty()
    return set()


def remember_shards(state: PartitionState, found: dict[str, tuple[int, Any]]) -> None:
    """Cache what the store holds of these shards: applied offset, and the whole maps this owner rewrites."""
    for i, (applied, stored) in found.items():
        state.applied[i] = applied
        if i[0] in "hd" and not i.startswith(TOTAL):
            state.resources[i] = stored or Counter()
        elif i[0] == "m":
            state.minute_maps[i] = stored or {}


def replaying(state: PartitionState, n: int, ids: dict[str, str]) -> bool:
    """Whether some shards already hold part of the first ``n`` queued views (a replay after a crash)."""
    return bool(n) and any(state.applied[i] >= state.pending.first_offset() for i in ids.values())


def replayed_counts(state: PartitionState, n: int, ids: dict[str, str]) -> dict[str, DocCounts]:
    """Shard key → counts of the first ``n`` queued views that each shard does not hold yet (after a crash)."""
    return tally_after(state.pending.records(n), {key: state.applied[i] for key, i in ids.items()})


def merged_maps(
    state: PartitionState, counts: dict[str, DocCounts], ids: dict[str, str], cap: int
) -> tuple[dict[str, Counter[str]], dict[str, DocCounts]]:
    """The whole maps written with these counts: the per-resource map of each hour and day shard (the stored one,
    which this partition's owner alone writes, plus this flush's, capped at ``cap`` resources), and the small maps
    of each minute shard (stored plus this flush's)."""
    resources: dict[str, Counter[str]] = {}
    minutes: dict[str, DocCounts] = {}
    for key, dims in counts.items():
        if key[0] in "hd" and key != TOTAL and dims.get("res"):
            resources[key] = merge_capped(state.resources[ids[key]], dims["res"], cap)
        elif key[0] == "m":
            stored = state.minute_maps[ids[key]]
            whole = minutes[key] = {d: Counter(c) for d, c in stored.items()}
            for d, c in dims.items():
                if d != "res":
                    whole.setdefault(d, Counter()).update(c)
    return resources, minutes


def remember_written(
    state: PartitionState,
    counts: dict[str, DocCounts],
    ids: dict[str, str],
    offset: int,
    resources: dict[str, Counter[str]],
    minutes: dict[str, DocCounts],
) -> int:
    """Record a successful write in the cache; returns the views it counted."""
    for key in counts:
        state.applied[ids[key]] = offset
    state.resources.update({ids[key]: merged for key, merged in resources.items()})
    state.minute_maps.update({ids[key]: whole for key, whole in minutes.items()})
    if len(state.applied) > 50_000 or len(state.resources) > 512 or len(state.minute_maps) > 4096:
        state.forget_shards()  # re-read from the store on the next miss
    return views_in(counts.get(TOTAL, {}))


# --- popularity ----------------------------------------------------------------------------------------------
def popularity_changes(state: PartitionState, minute: int) -> dict[str, Popularity]:
    """The partition's resources whose popularity changed since it was last published (a resource that left the
    windows gets one last all-zero figure)."""
    current = {
        r: (hour, day, trend(hour, before)) for r, (hour, before, day) in state.popularity.snapshot(minute).items()
    }
    for gone in state.published.keys() - current.keys():
        current[gone] = (0, 0, "steady")
    return {r: v for r, v in current.items() if state.published.get(r) != v}


def mark_published(state: PartitionState, changed: dict[str, Popularity]) -> None:
    for r, v in changed.items():
        if v[:2] == (0, 0):
            state.published.pop(r, None)
        else:
            state.published[r] = v
