"""Group commit through the outbox (``common.group_insert``) on FerretDB and Kafka: concurrent inserts written as
one pointer and one unordered ``insert_many`` per batch, each caller told its own document's fate, and the events
of exactly the written documents published (from memory, or by the next process's sweep after a crash)."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import AutoReconnect, BulkWriteError

from common.contracts.identity import USERS_TOPIC, UserUpdated
from common.group_insert import GroupInsert
from common.service import ServiceKit
from common.store import DUPLICATE_KEY
from tests.integration.common.test_outbox import kit_of
from tests.integration.viewstats.conftest import end_offsets, records_since

pytestmark = pytest.mark.integration


def updated(user: str, what: str) -> UserUpdated:
    return UserUpdated(user_id=user, occurred_at=datetime.now(UTC), changed=(what,))


async def _drop(mongodb_url: str, prefix: str) -> None:
    mongo = AsyncMongoClient(mongodb_url)
    await mongo.drop_database(f"{prefix}identity")
    await mongo.close()


async def test_an_unordered_insert_many_names_each_duplicate_by_index_and_writes_the_rest(mongodb_url) -> None:
    """What group commit rests on (MongoDB documents the same for ``ordered: false``): every document that can be
    written is, and each one refused is named by its index in the batch, a repeat inside the batch included."""
    mongo = AsyncMongoClient(mongodb_url)
    db = mongo[f"test_{uuid.uuid4().hex[:8]}_unordered"]
    try:
        await db.docs.insert_many([{"_id": "a"}, {"_id": "c"}])
        with pytest.raises(BulkWriteError) as refused:
            batch = [{"_id": "a", "n": 1}, {"_id": "b"}, {"_id": "c", "n": 2}, {"_id": "d"}, {"_id": "b", "n": 3}]
            await db.docs.insert_many(batch, ordered=False)
        errors = refused.value.details["writeErrors"]
        assert [(e["index"], e["code"]) for e in errors] == [(0, DUPLICATE_KEY), (2, DUPLICATE_KEY), (4, DUPLICATE_KEY)]
        assert sorted([d async for d in db.docs.find({})], key=lambda d: d["_id"]) == [
            {"_id": "a"},
            {"_id": "b"},
            {"_id": "c"},
            {"_id": "d"},
        ]
    finally:
        await mongo.drop_database(db.name)
        await mongo.close()


async def test_concurrent_inserts_share_a_pointer_per_batch_and_each_caller_learns_its_own_fate(
    kafka_bootstrap, mongodb_url
) -> None:
    prefix, tag = f"test_{uuid.uuid4().hex[:8]}_group_", uuid.uuid4().hex[:8]
    starts = await end_offsets(kafka_bootstrap, USERS_TOPIC)
    kit = kit_of(kafka_bootstrap, mongodb_url, prefix)
    kit.outbox.source("accounts")
    accounts = kit.store.db["accounts"]
    new = [f"u_{tag}_{n}" for n in range(30)]
    taken = [f"u_{tag}_taken_{n}" for n in range(5)]
    await accounts.insert_many([{"_id": u, "old": True} for u in taken])
    writer = GroupInsert(kit.outbox, "accounts", max_batch=16)
    # 30 new documents, 5 whose _id exists, and 5 repeats of new ones (sent last: their first copy wins)
    calls = [(u, "name") for u in new] + [(u, "name") for u in taken] + [(u, "roles") for u in new[:5]]
    try:
        results = await asyncio.gather(*(writer.insert({"_id": u, "what": w}, [updated(u, w)]) for u, w in calls))
        assert results == [True] * 30 + [False] * 10
        assert writer.batches == 3  # 40 documents at once, 16 at most per batch: not 40 writes
        # one pointer per batch; the third one's wrote nothing (3 taken _ids and the 5 repeats): withdrawn at once
        assert await kit.store.db["outbox"].count_documents({}) == 2
        stored = {d["_id"]: d async for d in accounts.find({})}
        assert {u for u, d in stored.items() if d.get("what") == "name"} == set(new)  # the first copies
        assert all(d == {"_id": u, "old": True} for u, d in stored.items() if u in taken)  # untouched, no entry
        await kit.broker.connect()
        kit.outbox.relay.start()
        await kit.outbox.relay.stop()  # publishes what it holds first
        assert await kit.store.db["outbox"].count_documents({}) == 0
    finally:
        await _close(kit, mongodb_url, prefix)

    mine = [r for r in await records_since(kafka_bootstrap, starts) if r.key and r.key.startswith(f"u_{tag}_")]
    assert sorted(r.key for r in mine) == sorted(new)  # the written ones' events, each once; no refused one's
    assert all(r.event.changed == ("name",) for r in mine)
    ids = {d["_id"]: d["outbox"][0]["id"] for d in stored.values() if d.get("outbox")}
    assert {r.key: r.id for r in mine} == ids  # the ids the documents carry


async def _close(kit: ServiceKit, mongodb_url: str, prefix: str) -> None:
    await kit.broker.stop()
    await _drop(mongodb_url, prefix)
    await kit.store.close()


async def _event_ids(kit: ServiceKit) -> dict[str, str]:
    """Each stored account's event id, as its outbox entry carries it."""
    return {d["_id"]: d["outbox"][0]["id"] async for d in kit.store.db["accounts"].find({})}


async def _written_by_a_process_that_died(
    kafka_bootstrap: str, mongodb_url: str, prefix: str, users: list[str], epoch: float = 0.0
) -> ServiceKit:
    """A process writes ``users`` through a group writer (batches of 8), then dies before its relay publishes;
    the next process's kit, connected to Kafka."""
    dead = kit_of(kafka_bootstrap, mongodb_url, prefix)
    dead.outbox.source("accounts")
    writer = GroupInsert(dead.outbox, "accounts", max_batch=8, epoch=epoch)
    assert all(await asyncio.gather(*(writer.insert({"_id": u}, [updated(u, "name")]) for u in users)))
    await dead.store.close()
    kit = kit_of(kafka_bootstrap, mongodb_url, prefix)
    kit.outbox.source("accounts")
    await kit.broker.connect()
    return kit


async def _each_published_once(kafka_bootstrap: str, starts, tag: str, users: list[str], stored: dict) -> None:
    """Every user's event on the topic exactly once, under the id its document carries."""
    mine = [r for r in await records_since(kafka_bootstrap, starts) if r.key and r.key.startswith(f"u_{tag}_")]
    assert Counter(r.key for r in mine) == Counter(users)
    assert {r.key: r.id for r in mine} == stored


async def test_a_batch_written_by_a_process_that_died_is_published_by_the_next_ones_sweep(
    kafka_bootstrap, mongodb_url
) -> None:
    prefix, tag = f"test_{uuid.uuid4().hex[:8]}_group_", uuid.uuid4().hex[:8]
    starts = await end_offsets(kafka_bootstrap, USERS_TOPIC)
    users = [f"u_{tag}_{n}" for n in range(20)]
    kit = await _written_by_a_process_that_died(kafka_bootstrap, mongodb_url, prefix, users)
    try:
        swept = await kit.outbox.relay.sweep(min_age=0)
        assert (swept.pointers, swept.events) == (3, 20)
        assert await kit.store.db["outbox"].count_documents({}) == 0
        stored = await _event_ids(kit)
    finally:
        await _close(kit, mongodb_url, prefix)
    await _each_published_once(kafka_bootstrap, starts, tag, users, stored)


async def _published(relay) -> None:
    for _ in range(200):
        if not relay.queue:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the relay did not publish what it holds")


def _epoch_writer(kafka_bootstrap: str, mongodb_url: str, prefix: str) -> tuple[ServiceKit, GroupInsert]:
    """A kit and a group writer of accounts whose batches share epochs of a minute (batches of 8)."""
    kit = kit_of(kafka_bootstrap, mongodb_url, prefix)
    kit.outbox.source("accounts")
    return kit, GroupInsert(kit.outbox, "accounts", max_batch=8, epoch=60)


async def test_the_batches_of_an_epoch_share_one_pointer_that_goes_once_the_epoch_is_retired_and_published(
    kafka_bootstrap, mongodb_url
) -> None:
    prefix, tag = f"test_{uuid.uuid4().hex[:8]}_group_", uuid.uuid4().hex[:8]
    starts = await end_offsets(kafka_bootstrap, USERS_TOPIC)
    kit, writer = _epoch_writer(kafka_bootstrap, mongodb_url, prefix)
    pointers = kit.store.db["outbox"]
    users = [f"u_{tag}_{n}" for n in range(25)]
    try:
        await kit.broker.connect()
        kit.outbox.relay.start()
        assert all(await asyncio.gather(*(writer.insert({"_id": u}, [updated(u, "name")]) for u in users[:20])))
        assert writer.batches == 3
        assert [p["d"] async for p in pointers.find({})] == [None]  # one epoch pointer for the three batches
        await _published(kit.outbox.relay)
        assert await pointers.count_documents({}) == 1  # published, but the epoch is open: the pointer stays
        # a later batch joins the open epoch; a repeat is refused and announces nothing
        assert await asyncio.gather(*(writer.insert({"_id": u}, [updated(u, "name")]) for u in users[19:])) == [
            False,
            *[True] * 5,
        ]
        assert writer.batches == 4 and await pointers.count_documents({}) == 1
        await kit.outbox.relay.stop()  # the idle writer retires its epoch: published, then the pointer goes
        assert await pointers.count_documents({}) == 0
        stored = await _event_ids(kit)
    finally:
        await _close(kit, mongodb_url, prefix)
    await _each_published_once(kafka_bootstrap, starts, tag, users, stored)


async def test_an_epoch_of_a_process_that_died_is_swept_by_its_tag_only_after_the_grace(
    kafka_bootstrap, mongodb_url
) -> None:
    prefix, tag = f"test_{uuid.uuid4().hex[:8]}_group_", uuid.uuid4().hex[:8]
    starts = await end_offsets(kafka_bootstrap, USERS_TOPIC)
    users = [f"u_{tag}_{n}" for n in range(20)]
    kit = await _written_by_a_process_that_died(kafka_bootstrap, mongodb_url, prefix, users, epoch=60)
    try:
        # within the grace a write started under the epoch might still land: the sweep leaves it
        assert (await kit.outbox.relay.sweep(min_age=0)).pointers == 0
        assert await kit.store.db["outbox"].count_documents({}) == 1
        kit.outbox.relay.options = replace(kit.outbox.relay.options, epoch_grace_seconds=0)
        swept = await kit.outbox.relay.sweep(min_age=0)
        assert (swept.pointers, swept.documents, swept.events) == (1, 20, 20)
        assert await kit.store.db["outbox"].count_documents({}) == 0
        stored = await _event_ids(kit)
    finally:
        await _close(kit, mongodb_url, prefix)
    await _each_published_once(kafka_bootstrap, starts, tag, users, stored)


async def test_a_batch_whose_answer_was_lost_leaves_its_epoch_to_the_sweep(
    kafka_bootstrap, mongodb_url, monkeypatch
) -> None:
    """A write under an epoch that raised (here: the documents stored, the answer lost on the way back) may or may
    not be stored: its epoch's pointer must outlive the relay, and a sweep then publishes what it tags."""
    prefix, tag = f"test_{uuid.uuid4().hex[:8]}_group_", uuid.uuid4().hex[:8]
    starts = await end_offsets(kafka_bootstrap, USERS_TOPIC)
    kit, writer = _epoch_writer(kafka_bootstrap, mongodb_url, prefix)
    pointers = kit.store.db["outbox"]
    users = [f"u_{tag}_{n}" for n in range(20)]
    insert_many = AsyncCollection.insert_many

    async def stored_then_lost(self, *args, **kwargs):
        await insert_many(self, *args, **kwargs)
        monkeypatch.undo()  # once
        raise AutoReconnect("connection closed before the answer")

    try:
        await kit.broker.connect()
        kit.outbox.relay.start()
        assert all(await asyncio.gather(*(writer.insert({"_id": u}, [updated(u, "name")]) for u in users[:8])))
        [epoch] = [p["_id"] async for p in pointers.find({})]
        monkeypatch.setattr(AsyncCollection, "insert_many", stored_then_lost)
        lost = await asyncio.gather(
            *(writer.insert({"_id": u}, [updated(u, "name")]) for u in users[8:16]), return_exceptions=True
        )
        assert all(isinstance(r, AutoReconnect) for r in lost)
        assert all(await asyncio.gather(*(writer.insert({"_id": u}, [updated(u, "name")]) for u in users[16:])))
        await kit.outbox.relay.stop()  # publishes the first and third batches; the next epoch's pointer goes
        assert [p["_id"] async for p in pointers.find({})] == [epoch]  # the failed one's stays
        kit.outbox.relay.options = replace(kit.outbox.relay.options, epoch_grace_seconds=0)
        swept = await kit.outbox.relay.sweep(min_age=0)
        assert (swept.pointers, swept.documents, swept.events) == (1, 16, 16)  # all it tags, the lost ones too
        assert await pointers.count_documents({}) == 0
        stored = await _event_ids(kit)
    finally:
        await _close(kit, mongodb_url, prefix)
    mine = [r for r in await records_since(kafka_bootstrap, starts) if r.key and r.key.startswith(f"u_{tag}_")]
    assert Counter(r.key for r in mine) == Counter(users + users[:8])  # the first batch twice: at least once
    assert {r.key: r.id for r in mine} == stored
