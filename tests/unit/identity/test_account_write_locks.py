"""The per-account serialisation of the store's account writes (what makes one FerretDB-backed process lose no
update): writers of one account take turns, writers of different accounts do not wait for each other, and the
map of locks holds only the accounts being written."""

from __future__ import annotations

import asyncio

import pytest

from identity.store.base import KeyedLocks

pytestmark = pytest.mark.unit


async def test_writers_of_one_account_take_turns_and_the_map_empties():
    locks = KeyedLocks()
    inside: list[str] = []
    overlaps: list[tuple[str, ...]] = []

    async def write(key: str) -> None:
        async with locks.hold(key):
            inside.append(key)
            overlaps.append(tuple(inside))
            await asyncio.sleep(0)  # let the others run while this one holds the lock
            await asyncio.sleep(0)
            inside.remove(key)

    await asyncio.gather(*[write("u_a") for _ in range(10)], *[write("u_b") for _ in range(10)])
    assert all(seen.count("u_a") <= 1 and seen.count("u_b") <= 1 for seen in overlaps)
    assert any(set(seen) == {"u_a", "u_b"} for seen in overlaps)  # two accounts were written at once
    assert locks._locks == {}


async def test_a_failing_writer_releases_the_lock():
    locks = KeyedLocks()
    with pytest.raises(RuntimeError):
        async with locks.hold("u_a"):
            raise RuntimeError("store down")
    async with locks.hold("u_a"):  # would wait forever if the lock were still held
        pass
    assert locks._locks == {}
