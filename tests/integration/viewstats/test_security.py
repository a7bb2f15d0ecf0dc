"""Issue 13 in viewstats on the real Kafka and FerretDB: forged learning hours (hole 5), beacons of made-up
resources and writes that can never succeed (hole 7), the collector's limits, X-Forwarded-For and the admins who
see province statistics (hole 11), and the bounds of every query parameter."""

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import orjson
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from common.auth import install_verifier
from common.problems import install_problem_handlers
from tests.integration.common.helpers import eventually
from tests.integration.viewstats.conftest import caught_up, end_offsets, list_resources, records_since
from tests.integration.viewstats.conftest import settings_for as scratch_settings
from tests.integration.viewstats.test_pipeline import beacon
from viewstats.api import build_router
from viewstats.app import create_app as create_viewstats
from viewstats.collector.app import create_app as create_collector
from viewstats.domain.beacon import parse_beacon
from viewstats.domain.geo import ProvinceTable
from viewstats.domain.learning import Beat, CourseChange
from viewstats.learning import Ledger
from viewstats.stats import ViewStats
from viewstats.store import LearningStore, ViewStore
from viewstats.wire import view_record

pytestmark = pytest.mark.integration
KEY = b"test-certificate-key"
TEACHER = "teacher@cn/43/4301/430102/school-1"
DLQ = "viewstats-aggregator.dlq"


class Recorder:
    def __init__(self) -> None:
        self.sent: list = []

    async def publish_many(self, events, *, event_ids=None):
        self.sent += list(events)


# --- hole 5: learning hours ------------------------------------------------------------------------------------
async def test_ninety_heartbeats_in_seconds_do_not_finish_a_ten_hour_course(scratch):
    store, now = LearningStore(scratch["db"]), datetime.now(UTC)
    await store.set_courses({"c10": CourseChange(1, credit_hours=10.0, title="十学时")})
    burst = [Beat(f"b{i}", 0, i, "t1", "c10", 300, now + timedelta(seconds=i // 30)) for i in range(90)]
    recorder = Recorder()
    await Ledger(store, recorder, KEY).apply(burst[:45])
    await Ledger(store, recorder, KEY).apply(burst[45:])  # the next delivery: the clock is read from the store
    progress = await scratch["db"].progress.find_one({"_id": "t1|c10"})
    assert progress["s"] == 2 and not recorder.sent  # 27,000 s and a certificate before the fix
    # watching on, a beat every 5 minutes: each credits its 300 s
    later = [Beat(f"w{i}", 0, 100 + i, "t1", "c10", 300, now + timedelta(seconds=2 + 300 * (i + 1))) for i in range(3)]
    await Ledger(store, recorder, KEY).apply(later)
    assert (await scratch["db"].progress.find_one({"_id": "t1|c10"}))["s"] == 2 + 900


async def test_only_teachers_send_heartbeats(scratch, tokens):
    collector = create_collector(scratch_settings(scratch))
    install_verifier(collector, tokens.verifier())
    body = {"event_id": str(uuid.uuid4()), "resource_id": "course-1", "seconds": 300}
    async with LifespanManager(collector):
        c = httpx.AsyncClient(transport=httpx.ASGITransport(app=collector), base_url="http://collector")
        for roles in ((), ("student@cn/43/4301/430102/school-1",), ("school_admin@cn/43/4301/430102/school-1",)):
            refused = await c.post("/v1/heartbeats", json=body, headers=tokens.headers("u1", *roles))
            assert refused.status_code == 403, roles
            assert refused.headers["content-type"].startswith("application/problem+json")
        ok = await c.post("/v1/heartbeats", json=body, headers=tokens.headers("u2", TEACHER))
        assert ok.status_code == 202


# --- hole 11: the collector's limits and the client address ----------------------------------------------------
async def test_an_oversized_body_is_refused_before_it_is_read(scratch):
    collector = create_collector(scratch_settings(scratch, collector_max_body_bytes=64 * 1024))
    async with LifespanManager(collector):
        c = httpx.AsyncClient(transport=httpx.ASGITransport(app=collector), base_url="http://collector")
        declared = await c.post("/v1/views", content=b"[" + b" " * (200 * 1024) + b"]")
        assert declared.status_code == 413 and declared.json()["code"] == "body-too-large"
        assert declared.headers["content-type"].startswith("application/problem+json")

        pulled = 0

        async def endless():  # chunked, no Content-Length: 64 MiB if it were all read
            nonlocal pulled
            for _ in range(1024):
                pulled += 1
                yield b" " * (64 * 1024)

        streamed = await c.post("/v1/views", content=endless())
        assert streamed.status_code == 413 and pulled <= 3
        assert (await c.post("/v1/views", json=beacon("r1"))).status_code == 202


async def test_beacons_are_rate_limited_per_client_address(scratch):
    settings = scratch_settings(scratch, collector_ip_rate_per_second=0.5, collector_ip_burst=10)
    collector = create_collector(settings)
    async with LifespanManager(collector):
        c = httpx.AsyncClient(transport=httpx.ASGITransport(app=collector), base_url="http://collector")
        assert (await c.post("/v1/views", json=[beacon("r1") for _ in range(10)])).status_code == 202
        limited = await c.post("/v1/views", json=beacon("r1"))
        assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
        assert limited.headers["content-type"].startswith("application/problem+json")
        # without trusted proxies a forged X-Forwarded-For is not another client
        assert (await c.post("/v1/views", json=beacon("r1"), headers={"X-Forwarded-For": "1.2.3.4"})).status_code == 429


async def test_refused_requests_spend_the_senders_tokens_too(scratch):
    """Malformed JSON, an empty batch and an oversized batch are refused before any beacon is counted; each still
    costs a token, or a client could send garbage without limit."""
    settings = scratch_settings(scratch, collector_ip_rate_per_second=0.5, collector_ip_burst=3, collector_max_batch=2)
    collector = create_collector(settings)
    async with LifespanManager(collector):
        c = httpx.AsyncClient(transport=httpx.ASGITransport(app=collector), base_url="http://collector")
        refused = [
            await c.post("/v1/views", content=b"{not json", headers={"content-type": "application/json"}),
            await c.post("/v1/views", json=[]),
            await c.post("/v1/views", json=[beacon("r1") for _ in range(3)]),
        ]
        assert [r.status_code for r in refused] == [400, 422, 413]
        limited = await c.post("/v1/views", json=beacon("r1"))
        assert limited.status_code == 429, limited.text


async def test_the_province_comes_from_the_trusted_hop_not_from_the_client(scratch):
    hunan, guangdong = ProvinceTable.load().sample_ip("43"), ProvinceTable.load().sample_ip("44")
    starts = await end_offsets(scratch["bootstrap"], scratch["topic"])
    for hops, forwarded, province in ((0, hunan, None), (1, f"{hunan}, {guangdong}", "44")):
        collector = create_collector(scratch_settings(scratch, trusted_proxy_hops=hops))
        async with LifespanManager(collector):
            c = httpx.AsyncClient(transport=httpx.ASGITransport(app=collector), base_url="http://collector")
            sent = beacon(f"r-hops{hops}")
            assert (await c.post("/v1/views", json=sent, headers={"X-Forwarded-For": forwarded})).status_code == 202
        [record] = [r for r in await records_since(scratch["bootstrap"], starts) if r.id == sent["event_id"]]
        assert record.event.province == province, hops


# --- hole 11: who sees province statistics; bounds of every parameter -------------------------------------------
@pytest.fixture
async def stats_api(scratch, tokens):
    store = ViewStore(scratch["db"])
    counts = {
        "d:2026-11-23": {"all": {"all": 5}, "prov": {"43": 3, "44": 2}, "cty": {"CN": 5}, "sec": {"course_teaching": 5}}
    }
    from collections import Counter

    doc = {k: {d: Counter(v) for d, v in dims.items()} for k, dims in counts.items()}
    await store.apply(0, 1, doc, {}, {}, minutes={})
    app = FastAPI()
    install_problem_handlers(app)
    install_verifier(app, tokens.verifier())
    app.include_router(build_router(ViewStats(scratch_settings(scratch), store, lambda: 0)))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://stats")


async def test_province_figures_only_for_province_admins_of_that_province_and_ministry_admins(stats_api, tokens):
    day = {"day": "2026-11-23"}

    async def get(path, *roles, **params):
        return await stats_api.get(path, params=day | params, headers=tokens.headers("a1", *roles))

    for role in ("school_admin@cn/43/4301/430102/school-1", "county_admin@cn/43/4301/430102", "city_admin@cn/43/4301"):
        assert (await get("/v1/stats/provinces", role)).status_code == 403, role  # 200 with Hunan's views before
        assert (await get("/v1/stats/series/province/43", role)).status_code == 403, role
        assert (await get("/v1/stats/uniques", role, province="43")).status_code == 403, role
    hunan = "province_admin@cn/43"
    assert (await get("/v1/stats/provinces", hunan)).json()["views"] == {"43": 3}
    assert (await get("/v1/stats/series/province/44", hunan)).status_code == 403
    assert (await get("/v1/stats/series/province/43", hunan, granularity="d")).status_code == 200
    assert (await get("/v1/stats/countries", hunan)).status_code == 403
    assert (await get("/v1/stats/provinces", "ministry_admin")).json()["views"] == {"43": 3, "44": 2}
    assert (await get("/v1/stats/provinces")).status_code == 403  # signed in, no admin role


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/v1/stats/top", {"n": 100_000}),
        ("/v1/stats/top", {"n": -1}),
        ("/v1/stats/top", {"at": "garbage"}),
        ("/v1/stats/top", {"at": "2026-99-99"}),
        ("/v1/stats/top", {"window": "hour", "at": "2026-11-23"}),
        ("/v1/stats/totals", {"end": "0001-01-01"}),
        ("/v1/stats/totals", {"start": "0001-01-01", "end": "9999-12-31"}),
        ("/v1/stats/series", {"start": "0001-01-01T00:00:00", "granularity": "d"}),
        ("/v1/stats/series", {"end": "0001-01-01T00:00:00"}),
        ("/v1/stats/series", {"start": "2026-01-01T00:00:00", "granularity": "m"}),
        ("/v1/stats/rate", {"minute": "2026-99-99T99:99"}),
        ("/v1/stats/growth", {"start": "0001-01-01", "end": "0001-02-01"}),
        ("/v1/stats/provinces", {"day": "0001-01-01"}),
        ("/v1/stats/uniques", {"resource": "x" * 10_000}),
        ("/v1/stats/series/resource/" + "x" * 500, {}),
    ],
)
async def test_bad_parameters_are_problems_never_crashes(stats_api, tokens, path, params):
    r = await stats_api.get(path, params=params, headers=tokens.headers("a1", "ministry_admin"))
    assert r.status_code in (400, 422), r.text
    assert r.headers["content-type"].startswith("application/problem+json")


# --- hole 7: made-up resources, writes that can never succeed -------------------------------------------------
def aggregator_settings(scratch, **overrides):
    return scratch_settings(
        scratch, flush_interval_seconds=0.2, popularity_interval_seconds=3600, run_learning=False, **overrides
    )


async def produce(scratch, items: list[dict], now_ms: int) -> None:
    producer = scratch["producer"]
    futures = []
    for item in items:
        key, value, headers = view_record(parse_beacon(item, now_ms, province="43", country="CN"))
        futures.append(await producer.send(scratch["topic"], value, key=key, headers=headers))
    await asyncio.gather(*futures)


async def test_a_burst_of_made_up_ids_reaches_no_ranking_and_no_per_resource_map(scratch):
    tag, now = scratch["tag"], int(time.time() * 1000)
    real, fresh = f"lesson-{tag}", f"new-{tag}"
    await list_resources(scratch, real)
    made_up = [beacon(f"fake-{tag}-{i}") for i in range(3000)]
    await produce(scratch, [beacon(real) for _ in range(3)] + made_up, now)
    app = create_viewstats(aggregator_settings(scratch))
    async with LifespanManager(app):
        s = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://stats")
        await eventually(lambda: caught_up(scratch["bootstrap"], scratch["group"], scratch["topic"]), timeout=90)
        assert (await s.get("/v1/stats/totals")).json()["all_time"] == 3003  # the platform counts every view
        top = (await s.get("/v1/stats/top", params={"n": 100})).json()["resources"]
        assert top == [
            {"resource_id": real, "title": None, "views": 3}
        ]  # 3,000 fake ids of 1 view each were listed before
        held = [d async for d in scratch["db"]["counts_d_" + minute_key(now)].find({}, {"r": 1})]
        assert held and sum(len(stored_map(d)) for d in held) == 1  # the day shards hold the real resource only

        # A resource the catalog publishes now counts per resource once the aggregator read it (its first views,
        # while unknown, count in the totals only).
        await list_resources(scratch, fresh)
        sent = 0

        async def ranked():
            nonlocal sent
            await produce(scratch, [beacon(fresh)], int(time.time() * 1000))
            sent += 1
            top = (await s.get("/v1/stats/top", params={"n": 100})).json()["resources"]
            return top if len(top) == 2 else None

        top = await eventually(ranked, timeout=60, every=1.0)
        assert top[0] == {"resource_id": real, "title": None, "views": 3} and top[1]["resource_id"] == fresh
        assert 1 <= top[1]["views"] <= sent
        assert (await s.get("/v1/stats/totals")).json()["all_time"] >= 3003 + top[1]["views"]


async def test_a_shards_resource_map_is_capped_and_the_excess_is_no_resources(scratch):
    tag, now = scratch["tag"], int(time.time() * 1000)
    listed = [f"lesson-{tag}-{i}" for i in range(12)]
    await list_resources(scratch, *listed)
    await produce(scratch, [beacon(r) for r in listed], now)
    app = create_viewstats(aggregator_settings(scratch, resource_map_max_entries=2, partitions=4))
    async with LifespanManager(app):
        s = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://stats")
        await eventually(lambda: caught_up(scratch["bootstrap"], scratch["group"], scratch["topic"]), timeout=90)
        held = [d async for d in scratch["db"]["counts_d_" + minute_key(now)].find({}, {"r": 1})]
        maps = [stored_map(d) for d in held]
        assert maps and all(len(m) <= 2 for m in maps)  # one resource and ~other per partition's shard
        assert sum(sum(m.values()) for m in maps) == 12  # nothing lost
        top = (await s.get("/v1/stats/top", params={"n": 100})).json()["resources"]
        assert top and {t["resource_id"] for t in top} <= set(listed)  # ~other is nobody's


def minute_key(now_ms: int) -> str:
    from viewstats.domain.counters import local_minute, minute_label

    return minute_label(local_minute(now_ms))[2].replace("-", "")[:6]


def stored_map(doc: dict) -> dict:
    from viewstats.store import _decode_map

    return _decode_map(doc.get("r"))


async def test_a_write_that_can_never_succeed_goes_to_the_dead_letter_topic_and_counting_goes_on(scratch):
    """A record that passes the aggregator's parsing but whose write the store refuses for good (here a section
    that is not a valid field name, as only a forged record can carry): before, the flush was retried forever and
    no partition committed again."""
    tag, bootstrap, topic, now = scratch["tag"], scratch["bootstrap"], scratch["topic"], int(time.time() * 1000)
    real = f"lesson-{tag}"
    await list_resources(scratch, real)
    key, value, headers = view_record(parse_beacon(beacon(real), now, province="43", country="CN"))
    forged = orjson.dumps(orjson.loads(value) | {"section": "$where"})
    dlq_starts = await end_offsets(bootstrap, DLQ)
    poisoned = await scratch["producer"].send_and_wait(topic, forged, key=key, headers=headers)
    app = create_viewstats(aggregator_settings(scratch))
    async with LifespanManager(app):
        s = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://stats")

        async def parked():
            letters = [r for r in await records_since(bootstrap, dlq_starts, decoded=False) if r.key == key]
            return letters or None

        [letter] = await eventually(parked, timeout=60)
        letter_headers = dict(letter.headers)
        assert letter.value == forged and letter_headers["dlq_error"].startswith(b"views not writable")
        assert int(letter_headers["dlq_source_offset"]) == poisoned.offset
        assert int(letter_headers["dlq_source_partition"]) == poisoned.partition
        # the partition (and every other) counts and commits again
        await produce(scratch, [beacon(real) for _ in range(5)] + [beacon(f"other-{tag}-{i}") for i in range(20)], now)
        await eventually(lambda: caught_up(bootstrap, scratch["group"], topic), timeout=60)

        async def counted():
            return (await s.get("/v1/stats/totals")).json()["all_time"] == 25

        await eventually(counted, timeout=30)
