"""The replica's cache of classes (``classgroups.store.cache``): a load that began before a write or an event
dropped the entry is not kept (it may predate the change); entries age out; 0 seconds means no cache."""

from __future__ import annotations

import asyncio

import pytest

from classgroups.store.cache import Cache

pytestmark = pytest.mark.unit


def test_a_load_overtaken_by_an_invalidation_is_not_kept() -> None:
    cache: Cache[str] = Cache(30)
    ticket = cache.ticket("cls-1")  # a load begins
    cache.invalidate("cls-1")  # meanwhile a write (or another replica's event) changes the class
    cache.put("cls-1", ticket, "before the change")
    assert cache.get("cls-1") is None
    fresh = cache.ticket("cls-1")
    cache.put("cls-1", fresh, "after the change")
    assert cache.get("cls-1") == "after the change"


def test_an_invalidation_drops_the_entry_and_other_classes_stay() -> None:
    cache: Cache[str] = Cache(30)
    for key in ("cls-1", "cls-2"):
        cache.put(key, cache.ticket(key), key)
    cache.invalidate("cls-1")
    assert cache.get("cls-1") is None and cache.get("cls-2") == "cls-2"


def test_entries_age_out_and_zero_seconds_keeps_nothing(monkeypatch) -> None:
    import classgroups.store.cache as module

    now = [1000.0]
    monkeypatch.setattr(module.time, "monotonic", lambda: now[0])
    cache: Cache[str] = Cache(30)
    cache.put("cls-1", cache.ticket("cls-1"), "x")
    now[0] += 31
    assert cache.get("cls-1") is None
    off: Cache[str] = Cache(0)
    off.put("cls-1", off.ticket("cls-1"), "x")
    assert off.get("cls-1") is None


def test_a_clear_when_full_forgets_loads_in_flight() -> None:
    cache: Cache[str] = Cache(30, max_entries=2)
    in_flight = cache.ticket("cls-9")
    for key in ("cls-1", "cls-2", "cls-3"):  # the third put finds the cache full: it is cleared
        cache.put(key, cache.ticket(key), key)
    cache.put("cls-9", in_flight, "from before the clear")
    assert cache.get("cls-9") is None


async def settle() -> None:
    """Let the tasks started so far run to their end (a load, then its done callback)."""
    for _ in range(5):
        await asyncio.sleep(0)


class Store:
    """A load that waits until the test lets it finish, and counts how often the store was read."""

    def __init__(self, value: str = "v1") -> None:
        self.value, self.reads, self.gate = value, 0, asyncio.Event()

    async def load(self) -> str:
        self.reads += 1
        value = self.value
        await self.gate.wait()
        return value


async def test_requests_that_miss_together_share_one_load() -> None:
    cache: Cache[str] = Cache(30)
    store = Store()
    waiting = [asyncio.create_task(cache.get_or_load("cls-1", store.load)) for _ in range(32)]
    await asyncio.sleep(0)
    store.gate.set()
    assert await asyncio.gather(*waiting) == ["v1"] * 32
    assert store.reads == 1
    assert await cache.get_or_load("cls-1", store.load) == "v1" and store.reads == 1


async def aged(monkeypatch) -> tuple[Cache[str], Store]:
    """A cache holding ``cls-1`` (loaded as "v1") past its age of 30 s."""
    import classgroups.store.cache as module

    now = [1000.0]
    monkeypatch.setattr(module.time, "monotonic", lambda: now[0])
    cache: Cache[str] = Cache(30)
    store = Store()
    store.gate.set()
    assert await cache.get_or_load("cls-1", store.load) == "v1"
    now[0] += 31
    return cache, store


async def test_an_aged_entry_is_served_while_one_load_replaces_it(monkeypatch) -> None:
    cache, store = await aged(monkeypatch)
    store.value, store.gate = "v2", asyncio.Event()
    # past its age: every request still gets the previous copy at once, and only one load runs
    assert [await cache.get_or_load("cls-1", store.load) for _ in range(5)] == ["v1"] * 5
    await settle()
    assert store.reads == 2
    store.gate.set()
    await settle()
    assert await cache.get_or_load("cls-1", store.load) == "v2" and store.reads == 2


async def test_a_request_after_an_invalidation_does_not_join_the_load_from_before() -> None:
    cache: Cache[str] = Cache(30)
    before = Store("before the change")
    first = asyncio.create_task(cache.get_or_load("cls-1", before.load))
    await asyncio.sleep(0)  # the load is reading the store
    cache.invalidate("cls-1")  # a write lands meanwhile
    after = Store("after the change")
    after.gate.set()
    assert await cache.get_or_load("cls-1", after.load) == "after the change"
    before.gate.set()
    assert await first == "before the change"  # it asked before the write
    assert cache.get("cls-1") == "after the change"


async def test_a_failed_refresh_drops_the_aged_entry(monkeypatch) -> None:
    cache, _ = await aged(monkeypatch)

    async def failing() -> str:
        raise ConnectionError("the store is away")

    assert await cache.get_or_load("cls-1", failing) == "v1"
    await settle()
    with pytest.raises(ConnectionError):
        await cache.get_or_load("cls-1", failing)
