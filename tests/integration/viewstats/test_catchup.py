"""An aggregator catching up (after an outage, a rebalance, a replayed day) flushes by the catch-up limits, and
counts exactly, on the real Kafka and FerretDB."""

from __future__ import annotations

import asyncio
import time
from itertools import pairwise

import pytest
from prometheus_client import REGISTRY

from tests.integration.viewstats.conftest import caught_up, settings_for
from tests.integration.viewstats.test_exactness import produce
from tests.integration.viewstats.test_uniques import beacons
from viewstats.aggregator import Aggregator
from viewstats.store import ViewStore

pytestmark = pytest.mark.integration


async def counted(aggregator: Aggregator, views: int) -> None:
    deadline = time.monotonic() + 60
    while aggregator.counted < views:
        assert time.monotonic() < deadline, f"counted {aggregator.counted} of {views}"
        await asyncio.sleep(0.1)


async def test_an_aggregator_catching_up_writes_one_big_flush_and_counts_exactly(scratch) -> None:
    """Started behind (the whole topic unread, over ``catchup_lag_records``), the aggregator waits for the catch-up
    limits, not the live ones: here it writes everything in the one flush that follows catching up, where the
    live limit (500 records) would flush after every fetch. The counts are exact either way."""
    now = int(time.time() * 1000)
    items = beacons(50_000, 20_000, now, seed=8)  # more than one fetch returns (FETCH_RECORDS)
    await produce(scratch["producer"], scratch["topic"], items)
    flushes = REGISTRY.get_sample_value("viewstats_flush_views_count") or 0.0
    small = REGISTRY.get_sample_value("viewstats_flush_views_bucket", {"le": "10000.0"}) or 0.0
    settings = settings_for(
        scratch,
        flush_max_records=500,
        flush_interval_seconds=0.05,
        catchup_lag_records=1,
        catchup_flush_max_records=1_000_000,
        catchup_flush_interval_seconds=60,
    )
    aggregator = Aggregator(settings, ViewStore(scratch["db"]))
    await aggregator.start()
    try:
        await counted(aggregator, 50_000)
    finally:
        await aggregator.stop()
    assert REGISTRY.get_sample_value("viewstats_flush_views_count") == flushes + 1
    assert REGISTRY.get_sample_value("viewstats_flush_views_bucket", {"le": "10000.0"}) == small  # it held > 10,000
    total = await ViewStore(scratch["db"]).counts("d", ["total"], "all", settings.partitions)
    assert total["total"]["all"] == 50_000
    assert await caught_up(scratch["bootstrap"], scratch["group"], scratch["topic"])  # every partition committed


async def test_the_aggregator_lets_other_tasks_run_between_fetched_batches(scratch) -> None:
    """``getmany()`` hands out record batches already fetched without suspending, and one fetch holds more than
    the aggregator takes at once: the aggregator yields to the event loop after every take, so the consumer's
    heartbeats (here a ticker task) and the flush's store I/O run between any two instead of after the whole fetch."""
    now = int(time.time() * 1000)
    await produce(scratch["producer"], scratch["topic"], beacons(60_000, 20_000, now, seed=9))
    aggregator = Aggregator(settings_for(scratch), ViewStore(scratch["db"]))
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    calls: list[tuple[int, int]] = []  # (record batches returned, ticks when it returned)
    kinds: set[str] = set()
    await aggregator.start()
    getmany = aggregator.consumer.consumer.getmany  # aiokafka (the default client): it buffers whole fetches

    async def watched_getmany(*args, **kwargs):
        batches = await getmany(*args, **kwargs)
        calls.append((sum(len(records) for records in batches.values()), ticks))
        kinds.update(type(item).__name__ for records in batches.values() for item in records)
        return batches

    aggregator.consumer.consumer.getmany = watched_getmany
    ticking = asyncio.create_task(ticker())
    try:
        await counted(aggregator, 60_000)
    finally:
        ticking.cancel()
        await aggregator.stop()
    back_to_back = [(a, b) for a, b in pairwise(calls) if a[0] and b[0]]
    assert back_to_back, "no fetch held more than one batch: the case was not exercised"
    assert all(b[1] > a[1] for a, b in back_to_back), "a batch followed another without the loop running"
    # the fetcher hands the aggregator's consumer whole record batches, read in place (``domain._reader``)
    assert kinds == {"RecordBatch"}
