"""SIGKILL the aggregator at several moments (real Kafka, real FerretDB, a subprocess) and check that
the counts end exactly equal to the distinct beacons produced, retries included."""

import asyncio
import random
import signal
import subprocess
import time
from collections import Counter
from datetime import UTC, datetime

import pytest

from deploy.local.traffic import TrafficGenerator
from tests.integration.viewstats.conftest import caught_up, list_resources
from viewstats.domain.beacon import parse_beacon
from viewstats.domain.counters import local_minute, minute_label
from viewstats.store import ViewStore
from viewstats.wire import view_record

pytestmark = pytest.mark.integration
CRASHING = "tests.integration.viewstats.crashing_aggregator"

TODAY = datetime.now(UTC).date()


async def produce(producer, topic, items):
    futures = []
    for item in items:
        v = parse_beacon(item, item["time"])
        key, value, headers = view_record(v)
        futures.append(await producer.send(topic, value, key=key, headers=headers))
    await asyncio.gather(*futures)


def start(scratch, log, module="viewstats.aggregator", **env):
    """A standalone aggregator process; ``module`` "crashing_aggregator" dies at ``CRASH_AT`` (see there)."""
    return subprocess.Popen(
        [scratch["python"], "-m", module],
        cwd=scratch["root"],
        env={**scratch["env"], **{k: str(v) for k, v in env.items()}},
        stdout=subprocess.DEVNULL,
        stderr=log,
    )


def peak_traffic(n: int, seed: int) -> list[dict]:
    """The day's shape squeezed into the last 10 minutes, in time order (a stable sort keeps each retry right
    after its original), as ``n`` views take at peak rate."""
    gen = TrafficGenerator(resources=len(RESOURCES), duplicate_share=0.05, seed=seed)
    now = int(time.time() * 1000)
    day_start = int(datetime(TODAY.year, TODAY.month, TODAY.day, tzinfo=UTC).timestamp() * 1000) - 8 * 3600_000
    return sorted(
        (dict(i, time=now - 600_000 + (i["time"] - day_start) * 600_000 // 86_400_000) for i in gen.day(TODAY, n)),
        key=lambda i: i["time"],
    )


RESOURCES = TrafficGenerator(resources=300).resources  # the catalog publishes them (only those count per resource)


# Small, frequent flushes so that kills land inside writes, between write and commit, in warm-up.
KNOBS = {
    "VIEWSTATS_FLUSH_MAX_RECORDS": 400,
    "VIEWSTATS_FLUSH_INTERVAL_SECONDS": 0.02,
    "VIEWSTATS_DEDUP_WINDOW": 5000,
    "VIEWSTATS_INSTANCE_ID": "aggregator-0",
    "VIEWSTATS_SESSION_TIMEOUT_MS": 6000,
    "VIEWSTATS_LOG_LEVEL": "DEBUG",
}


async def steady_traffic(scratch, part: list[dict]) -> None:  # ≈ 3,000 views/s
    for i in range(0, len(part), 300):
        await produce(scratch["producer"], scratch["topic"], part[i : i + 300])
        await asyncio.sleep(0.1)


@pytest.fixture(params=["aiokafka", "confluent"])
def client(request) -> dict[str, str]:
    """The aggregator's Kafka client (``VIEWSTATS_AGGREGATOR_CLIENT``): exactness must not depend on it."""
    return {"VIEWSTATS_AGGREGATOR_CLIENT": request.param}


async def catch_up_and_check(scratch, tmp_path, log, items: list[dict], client: dict[str, str]) -> str:
    """Run a last aggregator until it committed everything; check every count against the distinct events.
    Returns the aggregators' log."""
    proc = start(scratch, log, **KNOBS, **client)
    try:
        deadline = time.monotonic() + 120
        while not await caught_up(scratch["bootstrap"], scratch["group"], scratch["topic"]):
            assert proc.poll() is None, (tmp_path / "aggregator.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "aggregator did not catch up"
            await asyncio.sleep(0.5)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        log.close()

    distinct = {i["event_id"]: i for i in items}
    store = ViewStore(scratch["db"])
    days = sorted({minute_label(local_minute(i["time"]))[2] for i in distinct.values()})
    total = sum(c["all"] for c in (await store.counts("d", days, "all", 4)).values())
    assert total == len(distinct)
    assert (await store.counts("d", ["total"], "all", 4))["total"]["all"] == len(distinct)
    res = Counter()
    for c in (await store.counts("d", days, "res", 4)).values():
        res.update(c)
    assert res == Counter(i["resource_id"] for i in distinct.values())
    prov = Counter()
    for c in (await store.counts("d", days, "prov", 4)).values():
        prov.update(c)
    assert prov == Counter(i.get("province") or "none" for i in distinct.values())
    hours = [f"{d}T{h:02d}" for d in days for h in range(24)]
    assert sum(c["all"] for c in (await store.counts("h", hours, "all", 4)).values()) == len(distinct)
    hour_res = Counter()
    for c in (await store.counts("h", hours, "res", 4)).values():
        hour_res.update(c)
    assert hour_res == res
    minutes = sorted({minute_label(local_minute(i["time"]))[0] for i in distinct.values()})
    assert sum(c["all"] for c in (await store.counts("m", minutes, "all", 4)).values()) == len(distinct)
    return (tmp_path / "aggregator.log").read_text()


async def test_sigkill_at_any_moment_keeps_counts_exact(scratch, tmp_path, client):
    items = peak_traffic(24_000, seed=11)
    await list_resources(scratch, *RESOURCES)
    rng = random.Random(5)
    kills = 0
    log = (tmp_path / "aggregator.log").open("w", buffering=1)

    def log_text():
        return (tmp_path / "aggregator.log").read_text()

    # Traffic goes on across the whole kill sequence: each run of the aggregator gets a slice of it while it is
    # being killed, so every kill interrupts real work (an idle aggregator would prove nothing).
    rounds = 8
    slices = [items[len(items) * k // (rounds + 1) : len(items) * (k + 1) // (rounds + 1)] for k in range(rounds + 1)]
    for part in slices[:rounds]:
        traffic = asyncio.create_task(steady_traffic(scratch, part))
        flushed_before = log_text().count("flushed")
        proc = start(scratch, log, **KNOBS, **client)
        deadline = time.monotonic() + 60
        while log_text().count("flushed") == flushed_before and time.monotonic() < deadline:  # noqa: ASYNC110 - polls a subprocess log
            await asyncio.sleep(0.05)  # starting up and joining: not yet worth a kill
        await asyncio.sleep(rng.uniform(0.0, 1.0))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills += 1
        await traffic
    await steady_traffic(scratch, slices[rounds])
    text = await catch_up_and_check(scratch, tmp_path, log, items, client)
    print(f"{kills} kills, {text.count('replay on partition')} flushes replayed onto partly applied shards")
    assert kills >= 8


@pytest.mark.parametrize("point", ["write", "commit"])
async def test_crash_at_each_point_of_a_flush_keeps_counts_exact(scratch, tmp_path, point, client):
    """The kills land exactly where exactness is at stake: after one partition's shards of a flush are written
    and before the others ("write"), and after every write but before the offsets are committed ("commit"),
    so the next owner re-reads records whose counts are already stored."""
    items = peak_traffic(12_000, seed=23)
    await list_resources(scratch, *RESOURCES)
    rounds = 5
    slices = [items[len(items) * k // (rounds + 1) : len(items) * (k + 1) // (rounds + 1)] for k in range(rounds + 1)]
    log = (tmp_path / "aggregator.log").open("w", buffering=1)
    for k, part in enumerate(slices[:rounds]):
        traffic = asyncio.create_task(steady_traffic(scratch, part))
        proc = start(scratch, log, CRASHING, **KNOBS, **client, CRASH_AT=f"{point}:{k % 3}")
        await traffic
        proc.wait(timeout=60)  # it kills itself at the crash point
        assert proc.returncode == -signal.SIGKILL
    await steady_traffic(scratch, slices[rounds])
    text = await catch_up_and_check(scratch, tmp_path, log, items, client)
    assert text.count(f"crash point {point} reached") == rounds
    if point == "commit":  # every crash left a written, uncommitted flush to be re-read
        assert text.count("replay on partition") >= rounds
