"""Issue 19's A/B on one kept topic, in one run: Kafka's own ConsumerPerformance (Java), the bare aiokafka and bare
confluent-kafka consumers (the aggregator's fetch settings, no processing), the aggregator on each client, and the
Quix Streams peer (``quix_peer.py``, in its own environment: ``make quix``), whose counts are checked after a
SIGKILL. Each run repeats every measurement in that order; medians and ratios at the end, ``uptime`` beside each.

    .cache/pyenv/bin/python bench/viewstats/bench_clients.py --topic bench.peak300k --runs 3 [--no-peer]

The topic comes from ``bench_aggregator.py --views 300000 --keep-topic`` (peak density: the day's views in 5 minutes).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import datetime
from pathlib import Path

import bench_aggregator as bench  # first: it puts libs/ and services/ on the path
from aiokafka import TopicPartition

from common.kafka import ce_id_and_type, confluent_consumer, kafka_admin, kafka_consumer, kafka_producer
from viewstats.aggregator.clients import CONFLUENT_FETCH, FETCH_RECORDS

QUIX = bench.ROOT / ".cache/quix/bin/python"
PEER = Path(__file__).with_name("quix_peer.py")


def load() -> str:
    return os.getloadavg().__repr__()


def bare_confluent(topic: str, n_records: int) -> float:
    """Records/s of a bare confluent-kafka consumer (batch ``consume()``, the aggregator's fetch settings), from its
    first message: the ceiling of an aggregator on librdkafka."""
    consumer = confluent_consumer(
        **{
            "group.id": f"bench-bare-ck-{uuid.uuid4().hex[:6]}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            **CONFLUENT_FETCH,
        }
    )
    consumer.subscribe([topic])
    try:
        seen, started = 0, None
        while seen < n_records:
            messages = consumer.consume(FETCH_RECORDS, 0.1)
            if messages and started is None:
                started = time.perf_counter()
            seen += len(messages)
        return n_records / (time.perf_counter() - (started or time.perf_counter()))
    finally:
        consumer.close()


async def expected_minutes(topic: str, partitions: int) -> tuple[Counter, dict[int, int]]:
    """What the peer must store: distinct views per (resource, minute start ms), and the last event time per
    partition (windows ending before it are closed)."""
    consumer = kafka_consumer(enable_auto_commit=False)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        await consumer.seek_to_beginning(*tps)
        counts: Counter = Counter()
        last: dict[int, int] = {}
        seen: set[str] = set()
        left = {tp for tp in tps if ends[tp] > 0}
        while left:
            for tp, records in (await consumer.getmany(timeout_ms=1000, max_records=50_000)).items():
                for r in records:
                    event_id, _ = ce_id_and_type(r.headers)
                    value = json.loads(r.value)
                    at = int(datetime.fromisoformat(value["viewed_at"]).timestamp() * 1000)
                    last[tp.partition] = max(last.get(tp.partition, 0), at)
                    if event_id not in seen:
                        seen.add(event_id)
                        counts[(r.key.decode(), at - at % 60_000)] += 1
                if records and records[-1].offset + 1 >= ends[tp]:
                    left.discard(tp)
        return counts, last
    finally:
        await consumer.stop()


def start_peer(command: list[str], env: dict[str, str], log: Path, mode: str) -> subprocess.Popen:
    return subprocess.Popen(command, env=env, stdout=log.open(mode), stderr=subprocess.STDOUT)


def remove(path: Path) -> None:
    path.unlink()


async def quix_peer(topic: str, n_records: int, partitions: int, kill_after: float | None) -> dict:
    """The Quix Streams application on the topic until its group committed the whole topic; with ``kill_after`` (a
    share of the topic), SIGKILLed once its commits pass that share, then restarted. The clock runs from the first
    commit seen to the last (the rate over the records in between): its start-up (topic creation, state
    stores, the group join) is not counted, as the aggregator's join is not."""
    tag = uuid.uuid4().hex[:6]
    group, output = f"bench-quix-{tag}", f"bench.quix.minutes.{tag}"
    state = Path(tempfile.mkdtemp(prefix="bench-quix-state-"))
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": bench.BOOTSTRAP}
    command = [str(QUIX), str(PEER), "--topic", topic, "--group", group, "--output", output]
    log = Path(tempfile.mkstemp(prefix="bench-quix-", suffix=".log")[1])
    watch = bench.GroupWatch(group, topic, partitions)
    await watch.start()
    proc = start_peer([*command, "--state-dir", str(state)], env, log, "w")
    kills, first, first_at = 0, None, 0
    try:
        while True:
            committed = await watch.committed()
            if first is None and committed > 0:
                first, first_at = time.perf_counter(), committed
            if committed >= watch.total:
                break
            if kill_after is not None and not kills and committed >= kill_after * watch.total:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                kills += 1
                proc = start_peer([*command, "--state-dir", str(state)], env, log, "a")
            if proc.poll() is not None:
                raise RuntimeError(f"the Quix Streams peer exited; see {log}")
            await asyncio.sleep(0.2)
        elapsed = time.perf_counter() - (first or time.perf_counter())
        print(json.dumps({"quix_seconds": round(elapsed, 2), "committed_at_first": first_at}), file=sys.stderr)
    finally:
        await watch.stop()
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(state, ignore_errors=True)
    expected, last = await expected_minutes(topic, partitions)
    windows = await committed_windows(output)
    stored = dict(windows)
    # A window is closed once its partition's event time passed its end (those the peer must have stored): here,
    # those that ended before the earliest of the partitions' last event times.
    closed = min(last.values()) if last else 0
    must = {k: v for k, v in expected.items() if k[1] + 60_000 < closed}
    wrong = {k: (v, expected.get(k)) for k, v in stored.items() if expected.get(k) != v}
    missing = [k for k in must if k not in stored]
    remove(log)
    return {
        "records_per_s": round((watch.total - first_at) / elapsed) if elapsed > 0 else None,
        "seconds": round(elapsed, 2),
        "kills": kills,
        "windows_stored": len(stored),
        "windows_emitted_twice": len(windows) - len(stored),
        "views_stored": sum(stored.values()),
        "windows_wrong": len(wrong),
        "closed_windows_missing": len(missing),
        "exact": not wrong and not missing,
    }


async def stable_ends(consumer, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
    """The read_committed end offsets once no transaction is left open (up to 3 minutes): Quix Streams gives its
    producer a new random ``transactional.id`` at every start, so a SIGKILLed instance's open transaction is not
    fenced by its successor; it holds back every read_committed reader of the output until the broker aborts it
    (``transaction.timeout.ms``, 60 s by default)."""
    plain = kafka_consumer(enable_auto_commit=False)
    await plain.start()
    try:
        highs = await plain.end_offsets(tps)
    finally:
        await plain.stop()
    started = time.perf_counter()
    while True:
        ends = await consumer.end_offsets(tps)
        if all(ends[tp] >= highs[tp] - 2 for tp in tps) or time.perf_counter() - started > 180:
            # (the last transaction's commit marker is not a record a reader gets: up to one per partition)
            print(json.dumps({"output_held_back_s": round(time.perf_counter() - started, 1)}), file=sys.stderr)
            return ends
        await asyncio.sleep(1.0)


async def committed_windows(topic: str) -> list[tuple[tuple[str, int], int]]:
    """The windows the peer emitted, as a read_committed consumer sees them (aborted transactions hidden), then the
    output topic is deleted."""
    producer = kafka_producer()  # its partitions_for() waits for the topic's metadata
    await producer.start()
    try:
        partitions = sorted(await producer.partitions_for(topic))
    finally:
        await producer.stop()
    consumer = kafka_consumer(enable_auto_commit=False, isolation_level="read_committed")
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in partitions]
        consumer.assign(tps)
        ends = await stable_ends(consumer, tps)
        await consumer.seek_to_beginning(*tps)
        windows = []
        left = {tp for tp in tps if ends[tp] > 0}
        deadline = time.perf_counter() + 120  # one sitting's check once hung here: never for ever
        while left and time.perf_counter() < deadline:
            for records in (await consumer.getmany(timeout_ms=1000)).values():
                for r in records:
                    value = json.loads(r.value)
                    windows.append(((r.key.decode(), int(value["start"])), int(value["value"])))
            # read_committed: the position passes the transactions' markers, which are no records
            left = {tp for tp in left if await consumer.position(tp) < ends[tp]}
    finally:
        await consumer.stop()
    admin = kafka_admin()
    await admin.start()
    await admin.delete_topics([topic])
    await admin.close()
    return windows


def median(values) -> float | None:
    values = [v for v in values if v is not None]
    return round(statistics.median(values)) if values else None


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--topic", required=True, help="a kept topic (bench_aggregator.py --keep-topic)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--partitions", type=int, default=12)
    ap.add_argument("--no-peer", action="store_true", help="skip the Quix Streams peer")
    ap.add_argument("--peer-kill", type=float, default=0.4, help="SIGKILL the peer once this share is committed")
    args = ap.parse_args()
    n = await bench.topic_records(args.topic, args.partitions)
    print(json.dumps({"topic": args.topic, "records": n, "load": load()}), flush=True)
    rows = []
    for run in range(args.runs):
        row: dict = {"run": run + 1, "load_before": load()}
        row["java"] = round(bench.consumer_performance(args.topic, n)["msgs_per_s"])
        row["bare_aiokafka"] = round(await bench.bare_aiokafka(args.topic, n))
        row["bare_confluent"] = round(await asyncio.to_thread(bare_confluent, args.topic, n))
        for client in ("aiokafka", "confluent"):
            ours = await bench.aggregate(args.topic, n, args.partitions, client=client)
            row[f"aggregator_{client}"] = ours["records_per_s"]
            row[f"aggregator_{client}_exact"] = ours["views_stored"] == ours["views_counted"]
            row[f"aggregator_{client}_views_stored"] = ours["views_stored"]
        if not args.no_peer and QUIX.exists():
            try:
                peer = await quix_peer(args.topic, n, args.partitions, args.peer_kill if run == 0 else None)
                row["quix"] = peer["records_per_s"]
                row["quix_detail"] = peer
            except Exception as exc:  # the other measurements of the run stand
                row["quix_error"] = repr(exc)
        row["load_after"] = load()
        rows.append(row)
        print(json.dumps(row), flush=True)
    keys = ["java", "bare_aiokafka", "bare_confluent", "aggregator_aiokafka", "aggregator_confluent", "quix"]
    medians = {k: median(r.get(k) for r in rows) for k in keys}

    def ratio(a: str, b: str) -> float | None:
        return round(medians[a] / medians[b], 3) if medians.get(a) and medians.get(b) else None

    print(
        json.dumps(
            {
                "medians": medians,
                "bare_confluent/bare_aiokafka": ratio("bare_confluent", "bare_aiokafka"),
                "aggregator_confluent/aggregator_aiokafka": ratio("aggregator_confluent", "aggregator_aiokafka"),
                "aggregator_aiokafka/bare_aiokafka": ratio("aggregator_aiokafka", "bare_aiokafka"),
                "aggregator_confluent/bare_confluent": ratio("aggregator_confluent", "bare_confluent"),
                "aggregator_confluent/java": ratio("aggregator_confluent", "java"),
                "aggregator_aiokafka/java": ratio("aggregator_aiokafka", "java"),
                "bare_aiokafka/java": ratio("bare_aiokafka", "java"),
                "bare_confluent/java": ratio("bare_confluent", "java"),
                "aggregator_confluent/quix": ratio("aggregator_confluent", "quix"),
                "aggregator_aiokafka/quix": ratio("aggregator_aiokafka", "quix"),
                "load": load(),
            }
        )
    )


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    asyncio.run(main())
