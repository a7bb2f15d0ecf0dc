"""Counting views into bucket documents, exactly once per distinct beacon.

Keys. Time buckets are Beijing time (UTC+8, no daylight saving): the platform's "day" is China's day.
A counter document holds, for one (granularity, bucket, partition), a map dimension → value → count, and
by hour and day the per-resource counts as one binary map (FerretDB's cost of an update grows with the
number of fields it changes, and a day has thousands of resources)::

    m:2026-11-23T10:05:p07  {cb: <BSON {all: {all: 412}, sec: {...}, prov: {"43": 30, ...}, cty: {...}}>, o: 41230}
    h:2026-11-23T10:p07     {c: {..., min: {"00": 390, "05": 412, ...}}, r: <BSON ...>, o: 41230}
    d:2026-11-23:p07        {c: {..., hr: {"10": 24000, ...}}, r: <BSON {"res-1": 3, "res-9": 1, ...}>, o: 41230}
    d:total:p07             {c: {all: {all: 98000000}}, o: 41230}

``o`` is the highest partition offset applied to this document. One flush of a partition writes one update
per document it touches (the minutes it spans, one hour, one day, the total: ≈ 4), not one per (resource,
bucket) pair. A document's ``_id`` carries the partition, so exactly one consumer (the partition's owner)
ever writes it. A minute shard's small maps are one binary field too (17,280 minute shards a day; their owner
holds them like the per-resource maps). Per-resource counts by minute are not stored (only kept in memory for
popularity): a day holds thousands of resources, and "hot" lists are by hour and by day.
"""

from __future__ import annotations

from array import array
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta

from common.reference import BEIJING_OFFSET_MS
from viewstats.domain.beacon import View

CN_OFFSET_MS = BEIJING_OFFSET_MS
MINUTE_MS = 60_000
GRANULARITIES = ("m", "h", "d")
DIMENSIONS = ("all", "res", "sec", "prov", "cty")
# An hour document also holds the platform's views by minute of the hour ("05" → n), a day document by hour of
# the day: an hour's minute series reads one document per partition instead of 60, a day's hour series one instead
# of 24 (on FerretDB every read scans its collection).
SUB_BUCKETS = {"h": "min", "d": "hr"}
BUCKET_DIMENSIONS = {"m": DIMENSIONS, "h": (*DIMENSIONS, "min"), "d": (*DIMENSIONS, "hr")}
NO_PROVINCE = "none"


def local_minute(time_ms: int) -> int:
    """Beijing-time minute number since the epoch."""
    return (time_ms + CN_OFFSET_MS) // MINUTE_MS


def minute_label(minute: int) -> tuple[str, str, str]:
    """(minute, hour, day) bucket labels of a Beijing-time minute number."""
    dt = datetime.fromtimestamp(minute * 60, UTC)  # already shifted to local time
    day = dt.strftime("%Y-%m-%d")
    hour = f"{day}T{dt.hour:02d}"
    return f"{hour}:{dt.minute:02d}", hour, day


def today_label(now_ms: int) -> str:
    return minute_label(local_minute(now_ms))[2]


def shard_id(key: str, partition: int) -> str:
    return f"{key}:p{partition:02d}"


ViewKey = tuple[int, str, str, str, str]  # (local minute, resource, section, province, country)
DocCounts = dict[str, Counter[str]]  # dimension → value → count
TOTAL = "d:total"


def view_key(v: View) -> ViewKey:
    return (local_minute(v.time_ms), v.resource_id, v.section, v.province or NO_PROVINCE, v.country)


def tally(keys: Iterable[ViewKey] | Counter[ViewKey]) -> dict[str, DocCounts]:
    """Counter documents (key without partition) → dimension → value → count, for a batch of view keys
    (or for their counts already taken).

    Counts identical keys first (one dict increment per view), adds each distinct key to its minute document,
    then rolls the minutes up into their hour and day documents (one map merge per minute, not one increment
    per key and dimension: a flush of 100,000 views has tens of thousands of distinct keys), and adds the
    all-time total."""
    distinct = keys if isinstance(keys, Counter) else Counter(keys)
    minutes: dict[int, DocCounts] = {}
    for (minute, res, sec, prov, cty), n in distinct.items():
        doc = minutes.get(minute)
        if doc is None:
            doc = minutes[minute] = {d: Counter() for d in DIMENSIONS}
        doc["all"]["all"] += n
        doc["res"][res] += n
        doc["sec"][sec] += n
        doc["prov"][prov] += n
        doc["cty"][cty] += n
    out: dict[str, DocCounts] = {}
    for minute, minute_doc in sorted(minutes.items()):
        minute_bucket, hour_bucket, day_bucket = minute_label(minute)
        out[f"m:{minute_bucket}"] = minute_doc
        n = minute_doc["all"]["all"]
        # the platform's views by minute of the hour, by hour of the day
        for g, bucket, sub_bucket in (("h", hour_bucket, minute_bucket[-2:]), ("d", day_bucket, hour_bucket[-2:])):
            doc = out.get(f"{g}:{bucket}")
            if doc is None:
                doc = out[f"{g}:{bucket}"] = {d: Counter() for d in BUCKET_DIMENSIONS[g]}
            for d in DIMENSIONS:
                doc[d].update(minute_doc[d])
            doc[SUB_BUCKETS[g]][sub_bucket] += n
    if distinct:  # the all-time total, one tiny document per partition
        out[TOTAL] = {"all": Counter(all=sum(distinct.values()))}
    return out


OTHER_RESOURCES = "~other"  # not a resource id (beacons' ids match [A-Za-z0-9_-]): the views past a map's cap


def without_resources(counts: dict[str, DocCounts], unlisted: set[str]) -> None:
    """Take ``unlisted`` resources out of the per-resource maps of a flush's counts (in place); their views stay in
    every other dimension."""
    if unlisted:
        for dims in counts.values():
            res = dims.get("res")
            if res:
                for r in unlisted & res.keys():
                    del res[r]


def merge_capped(stored: Counter[str], new: Counter[str], cap: int) -> Counter[str]:
    """``stored`` plus ``new`` as a map of at most ``cap`` entries: a resource not yet in a full map is added to
    ``OTHER_RESOURCES`` instead. So a shard's per-resource map stays under the 16 MiB a document may hold, by
    construction: ids are at most 64 bytes, so 100,000 entries are ≈ 8 MB of BSON."""
    merged = Counter(stored)
    if len(merged) + len(new) <= cap:
        merged.update(new)
        return merged
    for r, n in new.items():
        if r in merged or len(merged) < cap - 1:
            merged[r] += n
        else:
            merged[OTHER_RESOURCES] += n
    return merged


def keys_of(key: ViewKey) -> list[str]:
    return list(tally([key]))


def tally_after(records: list[tuple[int, ViewKey]], applied: dict[str, int]) -> dict[str, DocCounts]:
    """Like :func:`tally` for ``(offset, key)`` records, but a record counts in a document only when its
    offset is above the document's applied offset ``applied[doc key]`` (-1 when absent).

    This is the replay rule after a crash: a flush that reached some documents and not others is redone
    for exactly the documents it did not reach."""
    if not records:
        return {}
    first = records[0][0]
    if all(o < first for o in applied.values()):
        return tally(k for _, k in records)  # the normal case: nothing of this batch was applied before
    out: dict[str, DocCounts] = {}
    for offset, key in records:
        for doc, dims in tally([key]).items():
            if offset > applied.get(doc, -1):
                target = out.setdefault(doc, {d: Counter() for d in dims})
                for d, c in dims.items():
                    target[d].update(c)
    return out


def views_in(doc: DocCounts) -> int:
    return doc["all"]["all"] if "all" in doc else 0


class PendingViews:
    """The views of one partition read and not yet flushed, in offset order.

    Kept as two arrays of machine integers (offset, key number) and a table of the distinct keys, not as one
    ``(offset, key)`` tuple per view: at 100,000 views a second those tuples lived across garbage collections
    and gave the cyclic GC's full passes that many more objects to walk (see ``Aggregator.run``). A flush takes the
    first ``n`` (:meth:`counts`, :meth:`records`) while reading goes on appending, then :meth:`drop` s them."""

    def __init__(self) -> None:
        self.offsets = array("q")
        self.key_numbers = array("q")
        self._number: dict[ViewKey, int] = {}
        self._keys: list[ViewKey] = []

    def __len__(self) -> int:
        return len(self.offsets)

    def append(self, offset: int, key: ViewKey) -> None:
        number = self._number.get(key)
        if number is None:
            number = self._number[key] = len(self._keys)
            self._keys.append(key)
        self.offsets.append(offset)
        self.key_numbers.append(number)

    def numbering(self) -> tuple[dict[ViewKey, int], list[ViewKey]]:
        """The key table (key → number, number → key), for a batch that numbers its keys inline and then
        :meth:`extend` s the queue (one pass over a batch, no method call per view)."""
        return self._number, self._keys

    def extend(self, offsets: list[int] | array, numbers: list[int] | array) -> None:
        """Queue views whose keys were numbered in :meth:`numbering`'s table: lists (the Python reader) or arrays of
        the queue's type (the compiled reader: copied as one block)."""
        if isinstance(offsets, list):
            self.offsets.fromlist(offsets)
            self.key_numbers.fromlist(numbers)
        else:
            self.offsets.extend(offsets)
            self.key_numbers.extend(numbers)

    def first_offset(self) -> int:
        return self.offsets[0]

    def counts(self, n: int) -> Counter[ViewKey]:
        """How many of the first ``n`` views each distinct key has."""
        keys = self._keys
        return Counter({keys[number]: c for number, c in Counter(self.key_numbers[:n]).items()})

    def records(self, n: int) -> list[tuple[int, ViewKey]]:
        """The first ``n`` as ``(offset, key)`` pairs (for a replay after a crash, see :func:`tally_after`)."""
        keys = self._keys
        return [(o, keys[k]) for o, k in zip(self.offsets[:n], self.key_numbers[:n], strict=True)]

    def drop(self, n: int) -> None:
        del self.offsets[:n]
        del self.key_numbers[:n]
        if not self.offsets:
            self._number.clear()
            self._keys.clear()
        elif len(self._keys) > 2 * len(self.offsets) + 10_000:
            # A busy aggregator reads on while it flushes, so its queue is never empty after a flush: without this,
            # the table kept every key since start (10 GB after 60 million views of a replayed day).
            self._renumber()

    def _renumber(self) -> None:
        """Keep only the keys of the queued views in the table, numbered from 0 again."""
        old_keys, number, keys = self._keys, {}, []
        renumbered = array("q")
        for k in self.key_numbers:
            m = number.get(k)
            if m is None:
                m = number[k] = len(keys)
                keys.append(old_keys[k])
            renumbered.append(m)
        self.key_numbers, self._keys = renumbered, keys
        self._number = {key: m for m, key in enumerate(keys)}


class DedupWindow:
    """Drops a beacon whose event id occurred among the previous ``window`` offsets of its partition.

    A client retrying a beacon keeps its event id and its resource id (the record key), so the copy lands
    on the same partition shortly after. The decision for offset x depends only on records [x-window, x),
    so a consumer that starts at committed offset c and first re-reads [c-window, c) (without counting)
    decides exactly as the consumer before the crash did: replays stay exact."""

    def __init__(self, window: int) -> None:
        self.window = window
        # event id (the ``ce_id`` header's bytes) → offset of its last occurrence. The batch reader
        # (``domain.partition.ingest``) decides inline, as :meth:`seen` does, and calls :meth:`prune` once per batch.
        self.last: dict[bytes | str, int] = {}
        self._pruned_at = 0

    def __len__(self) -> int:
        return len(self.last)

    def seen(self, event_id: bytes | str, offset: int) -> bool:
        """Record an occurrence; True when it duplicates one within the window."""
        last = self.last.get(event_id)
        self.last[event_id] = offset
        self.prune(offset)
        return last is not None and last < offset and offset - last <= self.window

    def prune(self, offset: int) -> None:
        """Forget the occurrences out of the window once it has moved by a window since the last pruning. When
        this happens changes no decision (an occurrence older than the window decides nothing): only memory."""
        if offset - self._pruned_at > self.window:
            floor = offset - self.window
            self.last = {k: o for k, o in self.last.items() if o >= floor}
            self._pruned_at = offset


def day_range(start: date, end: date) -> list[str]:
    days = (end - start).days
    return [(start + timedelta(days=i)).isoformat() for i in range(days + 1)]
