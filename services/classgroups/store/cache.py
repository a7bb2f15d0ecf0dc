"""A per-replica cache of classes and their memberships, read through by ``store.classes``.

Every request of the service asks how its caller stands to a class (``classgroups.access``): the class and the
caller's membership, two lookups that each scan a collection on FerretDB (``../shared/infra-notes.md``), before
the request does its own work. A check-in submission or a roster read did little else. So each replica keeps, per
class, the class and all its memberships (one load: the class by id and the class's memberships in one query),
and a request touches the store only for what it writes.

Kept current by:

- this replica's own writes: ``store.classes`` drops the class's entry after every write of the class or a
  membership (read-your-writes within the replica);
- the other replicas' writes, through the service's own events: every replica follows
  ``classgroups.classes.v1`` in a group of its own (``classgroups-cache``) and drops the entry of each class an
  event names (created, teachers assigned, ownership transferred, members joined, requested, invited, left);
- an age limit, ``CLASSGROUPS_CLASS_CACHE_SECONDS``, for what no event announces (naming a leave delegate) and
  for the moments before the replica's consumer is assigned its partitions.

A load that began before an invalidation is not kept: each entry is stored only if the class's generation has
not moved since the load began (the store read happened before the write or the event it missed).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Generic, TypeVar

V = TypeVar("V")


@dataclass(frozen=True)
class Ticket:
    """What :meth:`Cache.put` checks: the cache's epoch and the key's generation when the load began."""

    epoch: int
    generation: int


class Cache(Generic[V]):
    def __init__(self, seconds: float, max_entries: int = 20_000) -> None:
        self.seconds, self.max_entries = seconds, max_entries
        self._entries: dict[str, tuple[float, V]] = {}
        self._generations: dict[str, int] = {}
        self._epoch = 0

    def get(self, key: str) -> V | None:
        found = self._entries.get(key)
        if found is None:
            return None
        if time.monotonic() - found[0] > self.seconds:
            del self._entries[key]
            return None
        return found[1]

    def ticket(self, key: str) -> Ticket:
        return Ticket(self._epoch, self._generations.get(key, 0))

    def put(self, key: str, ticket: Ticket, value: V) -> None:
        if self.seconds <= 0 or ticket != self.ticket(key):
            return  # disabled, or invalidated while loading: the value may be older than the change
        if len(self._entries) >= self.max_entries or len(self._generations) >= 4 * self.max_entries:
            self.clear()
            return
        self._entries[key] = (time.monotonic(), value)

    def invalidate(self, key: str) -> None:
        self._generations[key] = self._generations.get(key, 0) + 1
        self._entries.pop(key, None)

    def clear(self) -> None:
        # A new epoch: loads in flight from before the clear are not kept (their generations are forgotten).
        self._epoch += 1
        self._entries.clear()
        self._generations.clear()
