"""What the aggregator shares with the chassis consumers (dead letters with the `dlq_*` headers, the consumer
metrics) and the popularity events it publishes for catalog, on the real Kafka and FerretDB."""

import asyncio
import time
import uuid

import httpx
import orjson
import pytest
from asgi_lifespan import LifespanManager

from common.contracts.viewstats import ResourcePopularityChanged
from tests.integration.common.helpers import eventually
from tests.integration.viewstats.conftest import caught_up, end_offsets, list_resources, records_since
from tests.integration.viewstats.conftest import settings_for as scratch_settings
from viewstats.app import create_app as create_viewstats
from viewstats.domain.beacon import parse_beacon
from viewstats.domain.counters import local_minute, minute_label
from viewstats.store import ViewStore
from viewstats.wire import view_record

pytestmark = pytest.mark.integration
DLQ, POPULARITY = "viewstats-aggregator.dlq", "viewstats.popularity.v1"


def settings_for(scratch, **overrides):
    return scratch_settings(
        scratch,
        flush_interval_seconds=0.2,
        popularity_interval_seconds=3600,  # rounds are driven by the test
        run_learning=False,
        **overrides,
    )


def metric(text: str, name: str, **labels: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_malformed_records_go_to_the_dead_letter_topic_and_popularity_reaches_catalog(scratch):
    tag, bootstrap, topic, producer = scratch["tag"], scratch["bootstrap"], scratch["topic"], scratch["producer"]
    hot, cold = f"hot-{tag}", f"cold-{tag}"
    await list_resources(scratch, hot, cold)
    now = int(time.time() * 1000)
    items = [(hot, now)] * 5 + [(hot, now - 70 * 60_000)] * 2 + [(cold, now)] * 3
    for resource, at in items:
        beacon = {"event_id": str(uuid.uuid4()), "resource_id": resource, "section": "course_teaching", "time": at}
        key, value, headers = view_record(parse_beacon(beacon | {"user_id": "u1", "province": "43"}, now))
        await producer.send_and_wait(topic, value, key=key, headers=headers)
    good_headers = headers
    bad = [
        (b"not json", good_headers),
        (value, [h for h in good_headers if h[0] != "ce_id"]),
        (value, [(k, b"cn.smartedu.viewstats.heartbeat.recorded.v1" if k == "ce_type" else v) for k, v in headers]),
        (orjson.dumps({k: v for k, v in orjson.loads(value).items() if k != "province"}), good_headers),
    ]
    placed = set()
    for body, h in bad:
        sent = await producer.send_and_wait(topic, body, key=key, headers=h)
        placed.add((sent.partition, sent.offset))
    dlq_starts, popularity_starts = await end_offsets(bootstrap, DLQ), await end_offsets(bootstrap, POPULARITY)

    app = create_viewstats(settings_for(scratch))
    async with LifespanManager(app):
        s = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://stats")
        await eventually(lambda: caught_up(bootstrap, scratch["group"], topic), timeout=90)
        totals = (await s.get("/v1/stats/totals")).json()
        assert totals["all_time"] == 10

        letters = [r for r in await records_since(bootstrap, dlq_starts, decoded=False) if r.key == key]
        headers = [dict((k, v.decode()) for k, v in r.headers) for r in letters]
        assert [r.value for r in letters] == [b for b, _ in bad]
        assert {h["dlq_source_topic"] for h in headers} == {topic}
        assert {h["dlq_consumer_group"] for h in headers} == {"viewstats-aggregator"}
        assert all(h["dlq_error"].startswith("malformed view beacon") for h in headers)
        assert {(int(h["dlq_source_partition"]), int(h["dlq_source_offset"])) for h in headers} == placed

        metrics = (await s.get("/metrics")).text
        labels = {"service": "viewstats", "group": "viewstats-aggregator", "topic": topic}
        assert metric(metrics, "kafka_messages_dead_lettered_total", **labels) == 4
        assert metric(metrics, "kafka_messages_failed_total", reason="malformed", **labels) == 4
        assert metric(metrics, "kafka_messages_consumed_total", **labels) == 14
        assert 'kafka_consumer_lag{group="viewstats-aggregator"' in metrics
        # which record reader runs (a pod without the compiled one shows it); `make python` builds it for the tests
        assert metric(metrics, "viewstats_aggregator_reader_info", reader="compiled") == 1

        # A round of popularity: what catalog's hot ordering consumes.
        assert await app.state.aggregator.publish_popularity() >= 2
        assert await app.state.aggregator.publish_popularity() == 0  # nothing changed: nothing sent
        popularity_mid = await end_offsets(bootstrap, POPULARITY)

    def mine(records):
        return {e.event.resource_id: e.event for e in records if e.event.resource_id in (hot, cold)}

    first = mine(await records_since(bootstrap, popularity_starts))
    assert all(isinstance(e, ResourcePopularityChanged) for e in first.values())
    assert (first[hot].views_last_hour, first[hot].trend, first[cold].views_last_hour) == (5, "rising", 3)
    assert first[cold].views_last_day == 3 and first[hot].views_last_day in (5, 7)  # 7 unless 70 min ago was yesterday

    # A restarted aggregator seeds its windows from the hour shards it owns: the day figures are the same; the
    # last 60 minutes are estimated pro rata from the hours (per-resource minutes are not stored).
    app = create_viewstats(settings_for(scratch))
    async with LifespanManager(app):
        await eventually(lambda: caught_up(bootstrap, scratch["group"], topic), timeout=90)

        async def owns_every_partition():
            states = app.state.aggregator.states
            return len(states) == 4 and all(st.ready for st in states.values())

        await eventually(owns_every_partition, timeout=60)
        assert await app.state.aggregator.publish_popularity() >= 2
    again = mine(await records_since(bootstrap, popularity_mid))
    assert {r: e.views_last_day for r, e in again.items()} == {r: e.views_last_day for r, e in first.items()}
    assert 5 <= again[hot].views_last_hour <= 7 and again[cold].views_last_hour == 3


async def test_the_assignment_callback_leaves_the_store_reads_to_after_it(scratch):
    """aiokafka sends no heartbeats while the assignment callback runs: store reads there that outlast the session
    timeout (a dozen partitions of a day's data on FerretDB: 13 s) get the member dropped, and the rejoin repeats
    them, forever. The callback only seeks and pauses; the partitions resume once their state is loaded."""
    tag, topic, producer = scratch["tag"], scratch["topic"], scratch["producer"]
    now = int(time.time() * 1000)
    for i in range(40):
        beacon = {"event_id": str(uuid.uuid4()), "resource_id": f"r{i % 8}-{tag}", "section": "course_teaching"}
        key, value, headers = view_record(parse_beacon(beacon | {"time": now, "user_id": f"u{i}"}, now))
        await producer.send_and_wait(topic, value, key=key, headers=headers)

    app = create_viewstats(settings_for(scratch))
    aggregator, callbacks, loaded = app.state.aggregator, [], []
    load_sketches, assigned = aggregator.store.load_sketches, aggregator.assigned

    async def slow_load_sketches(partitions, days):  # the real read, as slow as a big store makes it
        await asyncio.sleep(3.0)
        loaded.append(sorted(partitions))
        return await load_sketches(partitions, days)

    async def watched_assigned(partitions):
        await assigned(partitions)
        callbacks.append((sorted(partitions), len(loaded)))

    aggregator.store.load_sketches, aggregator.assigned = slow_load_sketches, watched_assigned
    async with LifespanManager(app):
        s = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://stats")

        async def all_counted():
            return (await s.get("/v1/stats/totals")).json()["all_time"] == 40

        await eventually(all_counted, timeout=60)
        assert callbacks == [([0, 1, 2, 3], 0)]  # one assignment, and its callback waited for no store read
        assert loaded == [[0, 1, 2, 3]]  # in one read
        assert len(aggregator.states) == 4 and all(st.ready for st in aggregator.states.values())


async def test_minute_shards_above_the_partition_watermark_are_inserted_without_a_read(scratch):
    """Each partition's owner raises the stored minute watermark before writing newer minute shards, so it creates
    them, and the hour and day shards of later hours and days, without reading them first (a catch-up on FerretDB
    spent two thirds of its time on those reads). A new owner reads the watermark and still reads the shards at or
    below it: they may exist."""
    tag, topic, producer = scratch["tag"], scratch["topic"], scratch["producer"]
    now = int(time.time() * 1000)

    async def produce(n: int, first: int) -> set[int]:
        partitions = set()
        for i in range(first, first + n):
            beacon = {"event_id": str(uuid.uuid4()), "resource_id": f"r{i % 8}-{tag}", "section": "course_teaching"}
            key, value, headers = view_record(parse_beacon(beacon | {"time": now, "user_id": f"u{i}"}, now))
            partitions.add((await producer.send_and_wait(topic, value, key=key, headers=headers)).partition)
        return partitions

    async def run_until(total: int) -> list[str]:
        app = create_viewstats(settings_for(scratch))
        store, read = app.state.aggregator.store, []
        shard_states = store.shard_states

        async def watched_shard_states(ids):
            ids = list(ids)
            read.extend(ids)
            return await shard_states(ids)

        store.shard_states = watched_shard_states
        async with LifespanManager(app):
            s = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://stats")

            async def counted():
                return (await s.get("/v1/stats/totals")).json()["all_time"] == total

            await eventually(counted, timeout=60)
            # no flush failed (a failed one, e.g. an insert of a shard that existed, forgets the watermark)
            assert all(store.watermark(p) is not None for p in app.state.aggregator.states)
        minute_shards = await ViewStore(scratch["db"]).counts("m", [label[2:]], "all", 4)
        assert minute_shards[label[2:]]["all"] == total  # the minute shards themselves, exactly
        return read

    label = f"m:{minute_label(local_minute(now))[0]}"
    partitions = await produce(40, 0)
    first = await run_until(40)
    # every minute, hour and day shard was new: none read (only the all-time totals, which exist from the start)
    assert not [i for i in first if not i.startswith("d:total")]
    watermarks = await ViewStore(scratch["db"]).minute_watermarks(range(4))
    assert {p for p, mark in watermarks.items() if mark} == partitions
    assert all(f"m:{watermarks[p]}" == label for p in partitions)

    more = await produce(10, 40)  # the same minute, counted by a new owner: those shards exist
    second = await run_until(50)
    assert {i for i in second if i.startswith("m:")} >= {f"{label}:p{p:02d}" for p in more}
