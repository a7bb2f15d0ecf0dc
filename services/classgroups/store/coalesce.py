"""Concurrent reads of one key each, served together by one read of many keys.

On FerretDB a lookup by any field but an exact ``_id`` decodes every document of the collection in Go, and even an
``_id`` lookup scans in SQLite (``../shared/infra-notes.md``). When a course's selection window opens, hundreds of
students ask at once, and each request read its own directory entry and memberships: 500 requests, 1,000 scans, one
after the other on the store (measured: 44 ms for one student's memberships among 560, so the last 202 came after
38 s). Coalesced, the requests of a moment share one ``$in`` read: the first goes out alone, and those arriving
while it runs go out together in the next.

What a caller sees does not change: its read starts after it asked (it never joins a read already sent), so a
request still reads its own earlier writes, and a failed read fails each of its callers, as a read of its own
would have. On MongoDB the ``$in`` uses the same index as the single read.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class CoalescedReads(Generic[K, V]):
    """``get(key)`` for many concurrent callers, through ``read_many(keys) -> {key: value}`` (a key it leaves out
    has no value: ``None``), at most ``max_keys`` keys a read, one read at a time."""

    def __init__(self, read_many: Callable[[list[K]], Awaitable[dict[K, V]]], *, max_keys: int = 500) -> None:
        if max_keys < 1:
            raise ValueError("max_keys must be at least 1")
        self._read_many = read_many
        self._max_keys = max_keys
        self._waiting: dict[K, asyncio.Future[V | None]] = {}
        self._reader: asyncio.Task[None] | None = None

    async def get(self, key: K) -> V | None:
        found = self._waiting.get(key)
        if found is None:
            found = self._waiting[key] = asyncio.get_running_loop().create_future()
            found.add_done_callback(_retrieve)
        if self._reader is None or self._reader.done():
            self._reader = asyncio.ensure_future(self._read())
        # shielded: a caller that goes away (a client disconnecting) does not fail the others waiting for the key
        return await asyncio.shield(found)

    async def _read(self) -> None:
        while self._waiting:
            keys = list(self._waiting)[: self._max_keys]
            batch = {k: self._waiting.pop(k) for k in keys}
            try:
                found = await self._read_many(keys)
            except Exception as exc:  # each caller gets what its own read would have raised
                for future in batch.values():
                    future.set_exception(exc)
                continue
            except BaseException:
                # cancelled (the loop is stopping): no caller is left hanging
                for future in batch.values():
                    future.cancel()
                raise
            # (only this task settles the futures: callers wait on them through a shield)
            for key, future in batch.items():
                future.set_result(found.get(key))


def _retrieve(future: asyncio.Future) -> None:
    # a failure nobody waits for any more (its callers went away) is not logged as "never retrieved"
    if not future.cancelled():
        future.exception()
