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

No request waits for a scan it need not: requests that miss together share one load (a roster read by 32
connections at once made 32 scans of the class's memberships when its entry went), and an entry past its age is
served while one load replaces it in the background (the roster read's p99 swung to seconds, when at every
``CLASSGROUPS_CLASS_CACHE_SECONDS`` every request in flight missed at once: ``docs/BENCHMARKS.md``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

V = TypeVar("V")
log = logging.getLogger("classgroups.cache")


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
        self._loading: dict[str, tuple[Ticket, asyncio.Task[V]]] = {}
        self._epoch = 0
        self.loads = 0  # loads started (the store's reads), for tests and benchmarks

    async def get_or_load(self, key: str, load: Callable[[], Awaitable[V]]) -> V:
        """The entry of ``key``; on a miss, one load shared by every request that misses meanwhile. An entry past
        its age is still served while one load in the background replaces it: the age limit bounds staleness
        that no event announces, and a request must not wait for (or pile onto) a store scan because of it."""
        if self.seconds <= 0:
            self.loads += 1
            return await load()
        found = self._entries.get(key)
        if found is not None:
            if time.monotonic() - found[0] > self.seconds and key not in self._loading:
                self._start(key, load, background=True)
            return found[1]
        pending = self._loading.get(key)
        ticket = self.ticket(key)
        if pending is None or pending[0] != ticket:  # none in flight, or it began before an invalidation
            pending = (ticket, self._start(key, load, background=False))
        # shielded: a request that goes away (a client disconnecting) does not cancel the others' load
        return await asyncio.shield(pending[1])

    def _start(self, key: str, load: Callable[[], Awaitable[V]], background: bool) -> asyncio.Task[V]:
        ticket = self.ticket(key)
        task = asyncio.ensure_future(load())
        self._loading[key] = (ticket, task)
        self.loads += 1

        def done(t: asyncio.Task[V]) -> None:
            if self._loading.get(key, (None, None))[1] is t:
                del self._loading[key]
            if t.cancelled():
                return
            if (exc := t.exception()) is not None:
                if background:  # the previous copy is not served past a failed refresh: the next request loads
                    log.warning("refreshing %s failed: %r", key, exc)
                    if self.ticket(key) == ticket:
                        self._entries.pop(key, None)
                return
            self.put(key, ticket, t.result())

        task.add_done_callback(done)
        return task

    def get(self, key: str) -> V | None:
        found = self._entries.get(key)
        if found is None or time.monotonic() - found[0] > self.seconds:
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
