"""What every collection group of identity's store shares: unique inserts (the concurrency primitive), reads by
``_id``, the outbox write of a state change with its events, and the per-document write locks FerretDB needs."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from common.contracts.base import Event
from common.outbox import Entry, Outbox
from common.store import insert_new


def aware(value: Any) -> Any:
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


class KeyedLocks:
    """One ``asyncio.Lock`` per key while someone holds or waits for it (the map never outgrows the writes in
    flight)."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @contextlib.asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)


class Collections:
    """A group of collections of identity's database (a subclass per group, see :mod:`identity.store`)."""

    def __init__(self, db: AsyncDatabase, outbox: Outbox) -> None:
        self.db = db
        self.outbox = outbox

    async def _insert(self, collection: str, doc: dict[str, Any]) -> bool:
        """Insert ``doc``; False (nothing written) when its ``_id`` exists. Every uniqueness rule and every
        once-only transition of identity is one of these."""
        return not await insert_new(self.db[collection], [doc])

    async def _get(self, collection: str, _id: str) -> dict[str, Any] | None:
        return await self.db[collection].find_one({"_id": _id})

    async def _fields(self, collection: str, _id: str, *moments: str) -> dict[str, Any] | None:
        """The document ``_id`` as the fields of its record: without ``_id``, the datetimes named in ``moments``
        time-zone aware (a store may hand them back naive)."""
        doc = await self._get(collection, _id)
        if doc is None:
            return None
        doc.pop("_id")
        for k in moments:
            doc[k] = aware(doc.get(k))
        return doc

    async def _holder(self, collection: str, doc: dict[str, Any], field: str) -> Any:
        """Claim ``doc``'s ``_id`` for ``doc[field]``; the value of whoever holds it (``doc[field]`` when the claim
        is this one, or was made before with the same value)."""
        if await self._insert(collection, doc):
            return doc[field]
        held = await self._get(collection, doc["_id"])
        return held[field] if held else doc[field]

    async def _announced(
        self,
        collection: str,
        doc_id: str,
        events: tuple[Event, ...],
        write: Callable[[list[Entry]], Awaitable[bool]],
    ) -> bool:
        """Run ``write`` with the outbox entries of ``events``, which it stores in the document it writes (the state
        change and its events in one single-document write). ``write`` returns whether it wrote: if not, the change
        is abandoned (no event); if it raises, the announcement stays for the relay's sweep to settle."""
        change = self.outbox.change(collection, {doc_id: list(events)}) if events else None
        if change is None:
            return await write([])
        await change.announce()  # if this raises, nothing is written
        if await write(change.entries(doc_id)):
            change.commit()
            return True
        await change.abandon()
        return False

    async def _insert_announced(self, collection: str, doc: dict[str, Any], events: tuple[Event, ...]) -> bool:
        """Insert ``doc`` with ``events`` in its ``outbox`` field; False (nothing written, no event) as ``_insert``."""

        async def insert(entries: list[Entry]) -> bool:
            return await self._insert(collection, {**doc, "outbox": entries} if entries else doc)

        return await self._announced(collection, doc["_id"], events, insert)

    async def _update_announced(
        self, collection: str, doc_id: str, where: dict[str, Any], update: dict[str, Any], events: tuple[Event, ...]
    ) -> bool:
        """``update_one`` of ``doc_id`` if it matches ``where``, ``events`` pushed by the same update; True when
        it changed the document. A document that did not match gets no entries, and the change is abandoned.
        The caller holds the document's write lock (FerretDB's updates are read–modify–write)."""
        if events:
            await self._prune(collection, doc_id)

        async def apply(entries: list[Entry]) -> bool:
            pushed = {**update, "$push": {"outbox": {"$each": entries}}} if entries else update
            result = await self.db[collection].update_one({"_id": doc_id, **where}, pushed)
            return result.modified_count > 0

        return await self._announced(collection, doc_id, events, apply)

    async def _prune(self, collection: str, doc_id: str) -> None:
        """Pull the entries of changes already published (their pointer is gone) out of the document, so that it
        does not grow with every change. ``$pullAll`` of the very entries read never touches another writer's
        pending ones (FerretDB's ``$pull`` removes only equal values: a condition such as ``{p: {$in: …}}``
        silently matched nothing)."""
        doc = await self.db[collection].find_one({"_id": doc_id}, {"outbox": 1})
        entries = (doc or {}).get("outbox") or []
        pending = {e["p"] for e in await self.outbox.unpublished(entries)}
        done = [e for e in entries if e["p"] not in pending]
        if done:
            await self.db[collection].update_one({"_id": doc_id}, {"$pullAll": {"outbox": done}})
