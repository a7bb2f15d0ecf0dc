"""The store: one MongoDB-API database per service, through PyMongo's native async client.

Indexes are declared in code (in each service's ``store.py``) and created at start. The code must work on
FerretDB (local, CI) and MongoDB (production) alike: no transactions, no change streams, and only exact
``_id`` lookups are cheap on FerretDB — see ../shared/infra-notes.md.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import Iterable
from typing import Any

from pymongo import AsyncMongoClient, IndexModel
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import (
    AutoReconnect,
    BulkWriteError,
    ConnectionFailure,
    NetworkTimeout,
    ServerSelectionTimeoutError,
)

# Errors that mean "the store is not reachable right now", as opposed to "this request is wrong":
# consumers retry these without limit instead of dead-lettering the message they were handling.
STORE_UNAVAILABLE = (ConnectionFailure, AutoReconnect, NetworkTimeout, ServerSelectionTimeoutError)

DUPLICATE_KEY = 11000

# FerretDB 1.24 keeps the cursor of each update in an update command open, holding one of its 100 pooled
# connections per database, until the whole command ends: a command with ~100 updates of existing documents
# then waits forever for a connection it holds itself, and the database stalls for every client (seen under
# `make run`). So bulk writes go out in chunks, at most two chunks per database in flight per process.
WRITE_CHUNK = 32
WRITES_IN_FLIGHT = 2
_write_gates: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Semaphore]] = (
    weakref.WeakKeyDictionary()
)


def _write_gate(collection: Any) -> asyncio.Semaphore:
    gates = _write_gates.setdefault(asyncio.get_running_loop(), {})
    name = collection.database.name
    if name not in gates:
        gates[name] = asyncio.Semaphore(WRITES_IN_FLIGHT)
    return gates[name]


async def bulk_write(collection: Any, ops: list[Any], *, ordered: bool = False) -> None:
    """``collection.bulk_write(ops)`` in chunks of ``WRITE_CHUNK``. A write error names the index in ``ops``, as
    one bulk write would; ordered, the chunks after a failing one are not sent."""
    errors: list[dict[str, Any]] = []
    gate = _write_gate(collection)
    for start in range(0, len(ops), WRITE_CHUNK):
        try:
            async with gate:
                await collection.bulk_write(ops[start : start + WRITE_CHUNK], ordered=ordered)
        except BulkWriteError as exc:
            errors += [{**e, "index": e["index"] + start} for e in exc.details.get("writeErrors", [])]
            if ordered:
                break
    if errors:
        raise BulkWriteError({"writeErrors": errors, "writeConcernErrors": [], "nInserted": 0, "nUpserted": 0})


LOOKUPS_IN_FLIGHT = 16
ONE_READ_ABOVE = 32


async def by_ids(
    coll: AsyncCollection, ids: Iterable[str], projection: dict[str, int] | None = None
) -> dict[str, dict[str, Any]]:
    """The existing documents among ``ids``: up to ``ONE_READ_ABOVE`` ids, each fetched by an exact ``_id``
    filter (at most ``LOOKUPS_IN_FLIGHT`` at a time); more, in one ``$in`` read. On FerretDB both scan the
    collection, the lookup in SQLite and the ``$in`` by decoding every document in Go, about 30 times dearer
    per scan (30k documents: 82 ms against 2.5 s; 2k hour shards: 22 ms against 0.7 s), so past ≈ 30 ids one
    read is cheaper (the totals' 360 day shards: 2 s of lookups). On MongoDB both use the ``_id`` index."""
    ids = list(dict.fromkeys(ids))
    if len(ids) > ONE_READ_ABOVE:
        return {d["_id"]: d async for d in coll.find({"_id": {"$in": ids}}, projection)}
    gate = asyncio.Semaphore(LOOKUPS_IN_FLIGHT)

    async def one(i: str) -> dict[str, Any] | None:
        async with gate:
            return await coll.find_one({"_id": i}, projection)

    found = await asyncio.gather(*(one(i) for i in ids))
    return {d["_id"]: d for d in found if d is not None}


async def insert_new(collection: Any, docs: list[dict[str, Any]]) -> list[int]:
    """Insert ``docs`` (unordered) and return the indexes of those whose ``_id`` was already there. An insert with
    a unique ``_id`` is atomic on both stores and, on FerretDB's SQLite backend, the one write that does not scan
    the collection: services use it as their idempotency and concurrency check."""
    if not docs:
        return []
    try:
        await collection.insert_many(docs, ordered=False)
    except BulkWriteError as exc:
        errors = exc.details.get("writeErrors", [])
        if any(e.get("code") != DUPLICATE_KEY for e in errors):
            raise
        return sorted(e["index"] for e in errors)
    return []


class Store:
    def __init__(self, url: str, database: str, *, app_name: str, max_pool_size: int = 32) -> None:
        self.client: AsyncMongoClient = AsyncMongoClient(
            url,
            appname=app_name,
            maxPoolSize=max_pool_size,
            serverSelectionTimeoutMS=5000,
            connectTimeoutMS=3000,
            tz_aware=True,
        )
        self.db: AsyncDatabase = self.client[database]
        self._indexes: dict[str, list[IndexModel]] = {}
        self._last_ping: tuple[float, bool] = (0.0, False)

    def declare_indexes(self, collection: str, indexes: list[IndexModel]) -> None:
        self._indexes.setdefault(collection, []).extend(indexes)

    async def ensure_indexes(self) -> None:
        # One index per createIndexes command: FerretDB v1.24 panics ("slice bounds out of range") on a command
        # that names several indexes when they exist already, i.e. on every restart of a service that declared
        # them together (found with identity's throttle indexes); creating an existing index alone is a no-op.
        for collection, indexes in self._indexes.items():
            for index in indexes:
                await self.db[collection].create_indexes([index])

    async def ping(self, cache_seconds: float = 1.0) -> bool:
        """Whether the store answers; cached briefly so a burst of probes costs one round trip."""
        checked_at, ok = self._last_ping
        if time.monotonic() - checked_at < cache_seconds:
            return ok
        try:
            # Bounded here: server selection would otherwise wait serverSelectionTimeoutMS (5 s) per probe.
            await asyncio.wait_for(self.client.admin.command("ping"), timeout=1.5)
            ok = True
        except Exception:  # any failure means "not ready"; the reason is in the store's own logs
            ok = False
        self._last_ping = (time.monotonic(), ok)
        return ok

    async def close(self) -> None:
        await self.client.close()
