"""The chassis' store helpers against the real store.

``bulk_write``: on FerretDB 1.24 one update command with ~100 updates of existing documents holds its database's
whole connection pool and never finishes (and every other client of that database waits with it). The helper
must get any number of updates through, also several at once, and report write errors by their index."""

from __future__ import annotations

import asyncio

import pytest
from pymongo import AsyncMongoClient, InsertOne, UpdateOne
from pymongo.errors import BulkWriteError

from common.store import bulk_write, insert_new

pytestmark = pytest.mark.integration


@pytest.fixture
async def db(mongodb_url, run_id):
    # timeoutMS: a stalled store fails the test within seconds instead of at the suite's per-test timeout.
    client: AsyncMongoClient = AsyncMongoClient(mongodb_url, timeoutMS=30_000)
    name = f"test_{run_id}_store"
    yield client[name]
    await client.drop_database(name)
    await client.close()


async def test_many_updates_of_existing_documents_go_through(db) -> None:
    n = 250  # well above the 100 updates that stall FerretDB in one command
    await db.c.insert_many([{"_id": f"d{i}", "v": 0} for i in range(n)])

    await bulk_write(db.c, [UpdateOne({"_id": f"d{i}"}, {"$inc": {"v": i}}) for i in range(n)])

    assert {d["_id"]: d["v"] async for d in db.c.find({})} == {f"d{i}": i for i in range(n)}
    # The database still answers other clients afterwards.
    assert await db.c.find_one({"_id": "d7"}) == {"_id": "d7", "v": 7}


async def test_concurrent_bulk_writes_on_one_database(db) -> None:
    writers, n = 4, 120
    await db.c.insert_many([{"_id": f"w{w}-{i}", "v": 0} for w in range(writers) for i in range(n)])

    async def write(w: int) -> None:
        await bulk_write(db.c, [UpdateOne({"_id": f"w{w}-{i}"}, {"$inc": {"v": 1}}) for i in range(n)])

    await asyncio.gather(*(write(w) for w in range(writers)))

    values = [d["v"] async for d in db.c.find({})]
    assert len(values) == writers * n and set(values) == {1}


async def test_write_errors_name_their_index_across_chunks(db) -> None:
    await insert_new(db.c, [{"_id": "taken-40"}, {"_id": "taken-75"}])
    ops = [InsertOne({"_id": f"taken-{i}" if i in (40, 75) else f"new-{i}"}) for i in range(100)]

    with pytest.raises(BulkWriteError) as caught:
        await bulk_write(db.c, ops)

    assert sorted(e["index"] for e in caught.value.details["writeErrors"]) == [40, 75]
    assert await db.c.count_documents({}) == 100  # every valid insert landed


async def test_declared_indexes_are_ensured_again_at_every_start(mongodb_url, run_id) -> None:
    """A restarted service declares the indexes it created before. FerretDB v1.24 panicked on a createIndexes
    naming several existing indexes and dropped the connection, so identity could not start twice."""
    from pymongo import IndexModel

    from common.store import Store

    name = f"test_{run_id}_indexes"
    try:
        for _start in range(2):  # the first start creates them, the second finds them
            store = Store(mongodb_url, name, app_name="test")
            store.declare_indexes("slots", [IndexModel("c"), IndexModel("s"), IndexModel("exp")])
            await store.ensure_indexes()
            assert {"c_1", "s_1", "exp_1"} <= {i["name"] async for i in await store.db["slots"].list_indexes()}
            await store.client.close()
    finally:
        client: AsyncMongoClient = AsyncMongoClient(mongodb_url)
        await client.drop_database(name)
        await client.close()
