"""Which collection a shard lives in: small collections, because FerretDB scans one on every update."""

import pytest

from viewstats.domain.counters import shard_id, tally
from viewstats.store import collection_of


def test_shards_go_to_collections_by_hour_day_and_month():
    assert collection_of("m:2026-11-23T10:05") == collection_of("m:2026-11-23T10:05:p07") == "counts_m_2026112310"
    assert collection_of("h:2026-11-23T10:p07") == "counts_h_20261123"
    assert collection_of("d:2026-11-23:p07") == "counts_d_202611"
    assert collection_of("d:total:p07") == "counts_total"
    assert collection_of("u:2026-11-23:res:p07") == "uniques_202611"
    with pytest.raises(ValueError):
        collection_of("x:2026-11-23")


def test_a_flush_across_midnight_writes_each_shard_to_its_own_days_collections():
    minute = 29_384_639  # 2025-11-13 23:59 in Beijing (minutes since the epoch, local time)
    keys = [(minute, "r1", "textbooks", "43", "CN"), (minute + 1, "r1", "textbooks", "43", "CN")]
    colls = {collection_of(shard_id(k, 3)) for k in tally(keys)}
    assert colls == {
        "counts_m_2025111323",
        "counts_m_2025111400",
        "counts_h_20251113",
        "counts_h_20251114",
        "counts_d_202511",
        "counts_total",
    }
