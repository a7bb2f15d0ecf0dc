"""Counter shards on the real store: a shard read as absent is inserted, and an insert that meets a shard
someone else wrote (a zombie owner) fails without touching it, so the aggregator re-reads and retries; the minute
series is read from the hour shards' minute maps (the hour series from the day shards' hour maps), and from the
finer shards for buckets counted before those maps."""

import asyncio
from collections import Counter
from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI
from pymongo.errors import BulkWriteError

from common.auth import install_verifier
from common.problems import install_problem_handlers
from tests.integration.viewstats.conftest import settings_for
from viewstats.api import build_router
from viewstats.domain.counters import local_minute, tally
from viewstats.stats import ViewStats
from viewstats.store import ViewStore, collection_of

pytestmark = pytest.mark.integration
MINUTE, HOUR = "m:2026-11-23T10:05", "h:2026-11-23T10"


async def test_absent_shards_are_inserted_and_an_existing_one_is_never_overwritten(scratch):
    store, db = ViewStore(scratch["db"]), scratch["db"]
    counts = {
        MINUTE: {"all": Counter(all=3), "prov": Counter({"43": 2, "none": 1})},
        HOUR: {"all": Counter(all=3), "res": Counter(r1=3)},
    }
    absent = ["m:2026-11-23T10:05:p00", HOUR + ":p00"]
    await store.apply(0, 41, counts, {HOUR: Counter(r1=3)}, {}, absent=absent, minutes=new_minutes(counts))
    states = await store.shard_states(["m:2026-11-23T10:05:p00", HOUR + ":p00"])
    minute_maps = {"all": Counter(all=3), "prov": Counter({"43": 2, "none": 1})}
    assert states == {"m:2026-11-23T10:05:p00": (41, minute_maps), "h:2026-11-23T10:p00": (41, Counter(r1=3))}
    minute = await db[collection_of(MINUTE)].find_one({"_id": "m:2026-11-23T10:05:p00"})
    assert set(minute) == {"_id", "o", "cb"}  # the small maps of a minute shard are one binary field

    # A writer that believes the minute absent (it read before a zombie wrote it): its insert fails and the
    # shard keeps what it had. (Shards the flush did reach carry its offset: the retry's re-read skips them.)
    more = {MINUTE: {"all": Counter(all=5)}, HOUR: {"all": Counter(all=5), "res": Counter(r1=5)}}
    with pytest.raises(BulkWriteError):
        await store.apply(
            0, 60, more, {HOUR: Counter(r1=8)}, {}, absent=["m:2026-11-23T10:05:p00"], minutes=new_minutes(more)
        )
    assert (await store.counts("m", ["2026-11-23T10:05"], "all", 4))["2026-11-23T10:05"] == Counter(all=3)

    # The retry, after re-reading: both are updated in place (the writer merges the minute's stored maps).
    whole = {MINUTE: {"all": Counter(all=8), "prov": Counter({"43": 2, "none": 1})}}
    await store.apply(0, 60, more, {HOUR: Counter(r1=8)}, {}, minutes=whole)
    assert (await store.shard_states([HOUR + ":p00"]))[HOUR + ":p00"] == (60, Counter(r1=8))
    assert (await store.counts("m", ["2026-11-23T10:05"], "all", 4))["2026-11-23T10:05"] == Counter(all=8)


def new_minutes(counts: dict) -> dict:
    """The whole small maps of minute shards written for the first time: this flush's counts."""
    return {key: dims for key, dims in counts.items() if key[0] == "m"}


def at(hhmm: str) -> int:
    """The local minute number of 2026-11-23 hh:mm Beijing time."""
    return local_minute(int(datetime.fromisoformat(f"2026-11-23T{hhmm}+08:00").astimezone(UTC).timestamp() * 1000))


async def test_minute_and_hour_series_read_the_coarser_shards_and_fall_back_for_older_counts(scratch):
    store, db = ViewStore(scratch["db"]), scratch["db"]
    views = [(at("10:05"), "r1", "course_teaching", "43", "CN")] * 3 + [(at("10:07"), "r2", "after_school", "11", "CN")]
    for partition, offset, part in ((1, 10, views[:2]), (2, 20, views[2:])):
        counts = tally(part)
        await store.apply(partition, offset, counts, {}, {}, minutes=new_minutes(counts))
    # 11:00–11:59 as counted before hour shards had minute maps: minute shards only, an hour total without `min`
    await db[collection_of("m:2026-11-23T11:02")].insert_one(
        {"_id": "m:2026-11-23T11:02:p03", "c": {"all": {"all": 4}}, "o": 7}
    )
    await db[collection_of(HOUR)].insert_one({"_id": "h:2026-11-23T11:p03", "c": {"all": {"all": 4}}, "o": 7})
    app = FastAPI()
    app.include_router(build_router(ViewStats(settings_for(scratch), store, lambda: 0)))
    api = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://stats")

    async def minutes(start: str, end: str) -> dict[str, int]:
        r = await api.get("/v1/stats/series", params={"granularity": "m", "start": start, "end": end})
        return {p["t"][-5:]: p["views"] for p in r.json()["points"] if p["views"]}

    assert await minutes("2026-11-23T10:00", "2026-11-23T11:59") == {"10:05": 3, "10:07": 1, "11:02": 4}
    await db[collection_of(MINUTE)].drop()  # the hour shards alone answer 10:xx
    assert await minutes("2026-11-23T10:00", "2026-11-23T11:59") == {"10:05": 3, "10:07": 1, "11:02": 4}
    rate = (await api.get("/v1/stats/rate", params={"minute": "2026-11-23T10:05"})).json()
    assert (rate["views"], rate["per_second"]) == (3, 0.05)

    async def hours() -> dict[str, int]:
        params = {"granularity": "h", "start": "2026-11-23T00:00", "end": "2026-11-23T23:00"}
        r = await api.get("/v1/stats/series", params=params)
        return {p["t"][-2:]: p["views"] for p in r.json()["points"] if p["views"]}

    # The hour series likewise, from the day shards' hour maps; the day counted before them reads hour shards.
    await db[collection_of("d:2026-11-23")].insert_one({"_id": "d:2026-11-23:p03", "c": {"all": {"all": 4}}, "o": 7})
    assert await hours() == {"10": 4, "11": 4}
    await db[collection_of("d:2026-11-23")].delete_one({"_id": "d:2026-11-23:p03"})
    await db[collection_of(HOUR)].drop()
    assert await hours() == {"10": 4}


async def test_identical_reads_in_flight_are_made_once(scratch):
    """Eight visitors asking the same top list at once cost one store read, and each gets its own copy."""
    store = ViewStore(scratch["db"])
    counts = tally([(at("10:05"), "r1", "course_teaching", "43", "CN")] * 2)
    resources = {"h:2026-11-23T10": Counter(r1=2), "d:2026-11-23": Counter(r1=2)}
    await store.apply(0, 5, counts, resources, {}, minutes=new_minutes(counts))
    reads, read = [], store._sum

    async def counted(*args):
        reads.append(args)
        return await read(*args)

    store._sum = counted
    answers = await asyncio.gather(*(store.counts("d", ["2026-11-23"], "res", 4) for _ in range(8)))
    assert len(reads) == 1 and all(a == {"2026-11-23": Counter(r1=2)} for a in answers)
    answers[0]["2026-11-23"]["r1"] = 99  # a caller changing its answer changes nobody else's
    assert answers[1]["2026-11-23"]["r1"] == 2
    await store.counts("d", ["2026-11-23"], "res", 4)  # once answered, the next request reads again
    assert len(reads) == 2


async def test_minute_retention_drops_whole_old_hours_and_the_api_says_so(scratch, tokens):
    store, db = ViewStore(scratch["db"]), scratch["db"]
    views = [(at("09:59"), "r1", "course_teaching", "43", "CN"), (at("10:00"), "r1", "course_teaching", "43", "CN")]
    await store.apply(0, 3, tally(views), {}, {}, minutes=new_minutes(tally(views)))
    assert await store.drop_minutes_before("2026-11-23T10") == ["counts_m_2026112309"]
    assert await store.drop_minutes_before("2026-11-23T10") == []  # every instance may run it
    assert set(await db.list_collection_names()) >= {"counts_m_2026112310", "counts_h_20261123", "counts_d_202611"}
    by_minute = await store.counts("m", ["2026-11-23T09:59", "2026-11-23T10:00"], "prov", 4)
    assert by_minute == {"2026-11-23T09:59": Counter(), "2026-11-23T10:00": Counter({"43": 1})}
    assert (await store.counts("h", ["2026-11-23T09"], "prov", 4))["2026-11-23T09"] == Counter({"43": 1})

    app = FastAPI()
    install_problem_handlers(app)
    install_verifier(app, tokens.verifier())
    app.include_router(build_router(ViewStats(settings_for(scratch, minute_retention_days=3), store, lambda: 0)))
    api = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://stats")
    admin = tokens.headers("a1", "ministry_admin")
    old = await api.get(
        "/v1/stats/series/province/43", params={"granularity": "m", "start": "2026-11-23T09:00"}, headers=admin
    )
    assert old.status_code == 422 and old.json()["code"] == "granularity-unavailable"
    recent = await api.get("/v1/stats/series/province/43", params={"granularity": "m"}, headers=admin)
    assert recent.status_code == 200 and len(recent.json()["points"]) == 61
