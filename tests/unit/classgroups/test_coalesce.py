"""``CoalescedReads``: concurrent reads of one key each, served by one read of many keys, with each caller seeing
what a read of its own would have (its read starts after it asked; a failure fails it)."""

from __future__ import annotations

import asyncio

import pytest

from classgroups.store.coalesce import CoalescedReads


class Backing:
    """A store whose reads can be held open, recording the keys of each read."""

    def __init__(self, data: dict[str, int]) -> None:
        self.data = data
        self.reads: list[list[str]] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.fail: Exception | None = None

    async def read_many(self, keys: list[str]) -> dict[str, int]:
        self.reads.append(list(keys))
        await self.gate.wait()
        if self.fail is not None:
            raise self.fail
        return {k: self.data[k] for k in keys if k in self.data}


async def test_concurrent_callers_share_reads_and_each_gets_its_own_value() -> None:
    store = Backing({f"k{i}": i for i in range(100)})
    reads = CoalescedReads(store.read_many)
    got = await asyncio.gather(*(reads.get(f"k{i}") for i in range(100)), reads.get("absent"), reads.get("k7"))
    assert got == [*range(100), None, 7]
    assert len(store.reads) == 1 and sorted(store.reads[0]) == sorted({*(f"k{i}" for i in range(100)), "absent"})


async def test_a_caller_arriving_during_a_read_waits_for_the_next_one_and_sees_the_write_before_it() -> None:
    store = Backing({"a": 1})
    reads = CoalescedReads(store.read_many)
    store.gate.clear()
    first = asyncio.ensure_future(reads.get("a"))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert store.reads == [["a"]]  # sent, held open
    store.data["a"] = 2  # written after the first read began
    second = asyncio.ensure_future(reads.get("a"))
    others = [asyncio.ensure_future(reads.get(k)) for k in ("b", "c")]
    await asyncio.sleep(0)
    store.gate.set()
    assert await first == 2  # (the held read returns what the store holds when it completes)
    assert await second == 2
    assert await asyncio.gather(*others) == [None, None]
    assert store.reads == [["a"], ["a", "b", "c"]]  # the late callers did not join the read already out


async def test_a_failed_read_fails_each_of_its_callers_and_the_next_read_goes_on() -> None:
    store = Backing({"a": 1, "b": 2})
    reads = CoalescedReads(store.read_many)
    store.gate.clear()
    first = asyncio.ensure_future(reads.get("a"))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    store.fail = ConnectionError("store down")
    waiting = [asyncio.ensure_future(reads.get(k)) for k in ("a", "b")]
    await asyncio.sleep(0)
    store.gate.set()
    with pytest.raises(ConnectionError):
        await first
    for w in waiting:
        with pytest.raises(ConnectionError):
            await w
    store.fail = None
    assert await reads.get("b") == 2


async def test_a_caller_going_away_does_not_fail_the_others_waiting_for_the_same_key() -> None:
    store = Backing({"a": 1})
    reads = CoalescedReads(store.read_many)
    store.gate.clear()
    leaving, staying = asyncio.ensure_future(reads.get("a")), asyncio.ensure_future(reads.get("a"))
    await asyncio.sleep(0)
    leaving.cancel()
    store.gate.set()
    assert await staying == 1
    assert leaving.cancelled()
    assert store.reads == [["a"]]


async def test_reads_hold_at_most_max_keys() -> None:
    store = Backing({str(i): i for i in range(10)})
    reads = CoalescedReads(store.read_many, max_keys=3)
    assert await asyncio.gather(*(reads.get(str(i)) for i in range(10))) == list(range(10))
    assert [len(r) for r in store.reads] == [3, 3, 3, 1]
    with pytest.raises(ValueError):
        CoalescedReads(store.read_many, max_keys=0)
