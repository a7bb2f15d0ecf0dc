"""An aggregator catching up (after an outage, a rebalance, a replayed day) flushes by the catch-up limits, and
counts exactly, on the real Kafka and FerretDB."""

from __future__ import annotations

import asyncio
import time

import pytest
from prometheus_client import REGISTRY

from tests.integration.viewstats.conftest import caught_up, settings_for
from tests.integration.viewstats.test_exactness import produce
from tests.integration.viewstats.test_uniques import beacons
from viewstats.aggregator import Aggregator
from viewstats.store import ViewStore

pytestmark = pytest.mark.integration


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
        deadline = time.monotonic() + 60
        while aggregator.counted < 50_000:
            assert time.monotonic() < deadline, f"counted {aggregator.counted}"
            await asyncio.sleep(0.1)
    finally:
        await aggregator.stop()
    assert REGISTRY.get_sample_value("viewstats_flush_views_count") == flushes + 1
    assert REGISTRY.get_sample_value("viewstats_flush_views_bucket", {"le": "10000.0"}) == small  # it held > 10,000
    total = await ViewStore(scratch["db"]).counts("d", ["total"], "all", settings.partitions)
    assert total["total"]["all"] == 50_000
    assert await caught_up(scratch["bootstrap"], scratch["group"], scratch["topic"])  # every partition committed
