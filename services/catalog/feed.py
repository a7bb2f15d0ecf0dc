"""The change feed behind ``GET /v1/changes``: every resource at its latest record on ``catalog.resources.v1``,
ordered by the record's Kafka offset.

Why offsets, and not the time of the change. A feed promises its subscribers that a position it hands out is
*stable*: no change will ever appear behind it. Wall-clock cursors cannot promise that on a store without
transactions: a change is stamped before it is applied (an import stamps every row with one ``now`` and applies
them chunk by chunk for seconds; another replica stamps a write and its event reaches this replica later), so a
cursor handed out meanwhile can already be past a change that has not yet appeared, and a settle window only
narrows that race to "slower than N seconds" (an import, a relay waiting for Kafka, a lagging consumer are all
slower). A sequence we allocated ourselves before each write would need a "stable up to" watermark, i.e. a
registry of writes in flight that a crashed writer never clears: correctness by timeout again.

Kafka already allocates the order we need. Every public change goes through the outbox onto the compacted
topic; a record's offset is assigned by the broker when it is appended and is the same for every reader; and a
replica applies each partition's records in offset order. So, per partition, the offset just past the last
record this replica applied (:attr:`ChangeFeed.applied`) is a watermark that holds *by construction*: every
record below it is already in the feed, and every record appended later gets a higher offset. The feed's
position is one such offset per partition (a resource's records all go to the partition of its key). A
position from one replica is valid on another (offsets are the topic's, not the replica's); a replica that has
consumed less simply has nothing new yet. Compaction removes records but never renumbers them.

What a subscriber gets (the README says it too): at least once, every public change made after its position,
as the resource's current state at the time of the poll (a resource appears once, at its latest record, like
on the compacted topic), so one that follows ``next`` until a page is empty ends at the state of the topic it
has been served up to. A change is in the feed once it is on the topic: a write answered while Kafka is down
appears when the relay has published it.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence


class ChangeFeed:
    """Per partition, the resources whose latest record is in it, by offset. Rows are appended as records are
    applied; a resource's older row is left in place and skipped (``_at`` says which row is live) until stale
    rows outnumber live ones, when the partition is rebuilt: an update costs O(1), not a list deletion."""

    def __init__(self, partitions: int) -> None:
        self.partitions = partitions
        self.applied = [0] * partitions  # per partition: every record below this offset is applied here
        self._rows: list[list[tuple[int, str]]] = [[] for _ in range(partitions)]  # (offset, resource id)
        self._live = [0] * partitions
        self._at: dict[str, tuple[int, int]] = {}  # resource id → (partition, offset) of its latest record
        self._unsorted: set[int] = set()  # partitions to sort before they are read (once, not per record)

    def passed(self, partition: int, offset: int) -> None:
        """The record at ``offset`` is applied (whatever it was: the watermark covers every record)."""
        if 0 <= partition < self.partitions and offset + 1 > self.applied[partition]:
            self.applied[partition] = offset + 1

    def caught_up(self, ends: dict[int, int]) -> None:
        """The start-up read applied every record below ``ends`` (partition → end offset)."""
        for partition, end in ends.items():
            self.passed(partition, end - 1)

    def record(self, resource_id: str, partition: int, offset: int) -> None:
        """A record of ``resource_id`` at ``offset`` is applied (a redelivery or an older record is a no-op)."""
        if not 0 <= partition < self.partitions:
            return  # a topic with more partitions than common.topics declares: not servable, but not fatal
        self.passed(partition, offset)
        held = self._at.get(resource_id)
        if held is not None:
            if held[0] == partition and held[1] >= offset:
                return
            self._live[held[0]] -= 1
        self._at[resource_id] = (partition, offset)
        self._live[partition] += 1
        rows = self._rows[partition]
        row = (offset, resource_id)
        if rows and row < rows[-1]:
            self._unsorted.add(partition)  # the start-up load (by key); the live consumer comes in offset order
        rows.append(row)
        if len(rows) > 1024 and len(rows) > 2 * self._live[partition]:
            self._rows[partition] = sorted((o, rid) for rid, (p, o) in self._at.items() if p == partition)
            self._unsorted.discard(partition)

    def page(self, after: Sequence[int], limit: int) -> tuple[list[tuple[str, list[int]]], list[int]]:
        """Up to ``limit`` resources whose latest record is at or after ``after`` (a position: per partition the
        next offset to read), lowest offsets first, each with the position just after it (a client may resume
        from any item), and the position to read from next. A partition whose changes were all returned moves to
        :attr:`applied` (nothing unseen below it, see the module docstring); one cut short by ``limit`` moves
        just past its last returned record."""
        for partition in self._unsorted:
            self._rows[partition].sort()
        self._unsorted.clear()
        candidates: list[tuple[int, int, str]] = []
        cut_short: set[int] = set()
        for partition, start in enumerate(after):
            rows = self._rows[partition]
            i, taken = bisect.bisect_left(rows, (start, "")), 0
            while i < len(rows) and taken < limit:
                offset, rid = rows[i]
                i += 1
                if self._at[rid] == (partition, offset):
                    candidates.append((offset, partition, rid))
                    taken += 1
            if i < len(rows):
                cut_short.add(partition)
        candidates.sort()
        page, rest = candidates[:limit], candidates[limit:]
        cut_short.update(p for _, p, _ in rest)
        following = [max(start, self.applied[p]) for p, start in enumerate(after)]
        for p in cut_short:
            following[p] = after[p]
        items, resume = [], list(after)
        for offset, p, rid in page:
            resume[p] = offset + 1  # items are in offset order: every later item of p is at or after it
            items.append((rid, list(resume)))
            if p in cut_short:
                following[p] = offset + 1
        return items, following
