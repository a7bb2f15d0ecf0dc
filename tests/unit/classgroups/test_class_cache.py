"""The replica's cache of classes (``classgroups.store.cache``): a load that began before a write or an event
dropped the entry is not kept (it may predate the change); entries age out; 0 seconds means no cache."""

from __future__ import annotations

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
