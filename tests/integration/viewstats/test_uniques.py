"""Unique visitors (独立访客) through the real pipeline: the aggregator's sketches, stored per partition and merged
at query time, estimate the distinct visitors within the sketches' stated error — also when they were written in
several flushes, by an owner that was restarted, and for a day it had not read at start (a late beacon)."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import defaultdict
from datetime import date, timedelta

import pytest

from tests.integration.viewstats.conftest import list_resources, settings_for
from tests.integration.viewstats.test_exactness import produce
from viewstats.aggregator import Aggregator
from viewstats.domain.counters import local_minute, minute_label
from viewstats.domain.uniques import LG_K, merged_estimate
from viewstats.store import ViewStore

pytestmark = pytest.mark.integration

# HLL's relative standard error is 1.04/sqrt(2^lg_k); three of them bound a correct estimate (99.7 %).
BOUND = {kind: 3 * 1.04 / (2**lg_k) ** 0.5 for kind, lg_k in LG_K.items()}


def beacons(n: int, visitors: int, at_ms: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    return [
        {
            "event_id": str(uuid.UUID(int=rng.getrandbits(128))),
            "resource_id": f"res-{rng.randrange(6)}",
            "section": "course_teaching",
            "visitor_id": f"v{rng.randrange(visitors)}",
            "province": rng.choice(["43", "44", "11"]),
            "country": "CN",
            "client": "web",
            "time": at_ms - rng.randrange(60_000),
        }
        for _ in range(n)
    ]


async def run_until_caught_up(scratch, items: list[dict]) -> None:
    """An aggregator (in-process) consumes ``items`` in several flushes, then stops (its final flush)."""
    aggregator = Aggregator(
        # A short de-dup window: the restarted owner's warm-up must not re-read what the first one stored.
        settings_for(
            scratch,
            flush_max_records=500,
            flush_interval_seconds=0.05,
            sketch_interval_seconds=0.2,
            dedup_window=100,
        ),
        ViewStore(scratch["db"]),
    )
    await aggregator.start()
    try:
        for i in range(0, len(items), 2000):
            await produce(scratch["producer"], scratch["topic"], items[i : i + 2000])
        deadline = time.monotonic() + 60
        while aggregator.counted < len({b["event_id"] for b in items}):
            assert time.monotonic() < deadline, f"counted {aggregator.counted}"
            await asyncio.sleep(0.1)
    finally:
        await aggregator.stop()


def truth(items: list[dict]) -> dict[tuple[str, str, str], set[str]]:
    out: dict[tuple[str, str, str], set[str]] = defaultdict(set)
    for b in items:
        day = minute_label(local_minute(b["time"]))[2]
        out[(day, "all", "all")].add(b["visitor_id"])
        out[(day, "res", b["resource_id"])].add(b["visitor_id"])
        out[(day, "prov", b["province"])].add(b["visitor_id"])
    return out


async def test_unique_visitors_within_the_sketch_error(scratch) -> None:
    await list_resources(scratch, *(f"res-{i}" for i in range(6)))
    now = int(time.time() * 1000)
    today = minute_label(local_minute(now))[2]
    three_days_ago = (date.fromisoformat(today) - timedelta(days=3)).isoformat()
    late_ms = now - 3 * 86_400_000
    first = beacons(12_000, 9_000, now, seed=1)
    # A second owner (the restart) gets more of today and late beacons of a day it did not read at start:
    # its writes must merge with what the first owner stored, not replace it.
    second = beacons(6_000, 12_000, now, seed=2) + beacons(1_500, 1_000, late_ms, seed=3)
    old = beacons(1_500, 1_000, late_ms, seed=4)

    await run_until_caught_up(scratch, first + old)
    await run_until_caught_up(scratch, second)

    store = ViewStore(scratch["db"])
    expected = truth(first + old + second)
    checked = 0
    for (day, kind, value), visitors in expected.items():
        if day not in (today, three_days_ago):
            continue
        estimate = merged_estimate(await store.sketches(day, kind, value, 4), LG_K[kind])
        assert abs(estimate - len(visitors)) <= BOUND[kind] * len(visitors), (day, kind, value, estimate, len(visitors))
        checked += 1
    assert checked == 2 * (1 + 6 + 3)


async def test_forgotten_days_are_read_again_when_a_late_view_arrives(scratch) -> None:
    """The aggregator forgets the sketches of days before yesterday (memory would otherwise grow by a day's
    sketches every day); a late view of such a day must merge with the stored sketches, not replace them."""
    now = int(time.time() * 1000)
    today = minute_label(local_minute(now))[2]
    old_day = (date.fromisoformat(today) - timedelta(days=3)).isoformat()
    late_ms = now - 3 * 86_400_000
    await list_resources(scratch, *(f"res-{i}" for i in range(6)))
    before, after = beacons(2_000, 1_500, late_ms, seed=5), beacons(2_000, 1_500, late_ms, seed=6)
    aggregator = Aggregator(
        settings_for(scratch, flush_max_records=500, flush_interval_seconds=0.05, sketch_interval_seconds=0.2),
        ViewStore(scratch["db"]),
    )
    await aggregator.start()
    try:
        await produce(scratch["producer"], scratch["topic"], before + beacons(500, 400, now, seed=7))
        deadline = time.monotonic() + 60
        while aggregator.counted < 2_500 or any(old_day in s.uniques.days for s in aggregator.states.values()):
            assert time.monotonic() < deadline, f"counted {aggregator.counted}"
            await aggregator.retention.forget_old_sketches(today)  # keeps a day whose sketches are not written yet
            await asyncio.sleep(0.1)
        assert all(today in s.uniques.days for s in aggregator.states.values() if s.uniques.days)
        await produce(scratch["producer"], scratch["topic"], after)
        while aggregator.counted < 4_500:
            assert time.monotonic() < deadline, f"counted {aggregator.counted}"
            await asyncio.sleep(0.1)
    finally:
        await aggregator.stop()
    store = ViewStore(scratch["db"])
    for (day, kind, value), visitors in truth(before + after).items():
        estimate = merged_estimate(await store.sketches(day, kind, value, 4), LG_K[kind])
        assert abs(estimate - len(visitors)) <= BOUND[kind] * len(visitors), (day, kind, value, estimate, len(visitors))
