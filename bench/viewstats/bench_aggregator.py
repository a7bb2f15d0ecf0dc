"""Aggregator throughput, end to end (Kafka → de-dup → tally → FerretDB → commit), against Kafka's own
ConsumerPerformance on the same topic in the same run, and against a bare aiokafka consumer (no processing).

    .cache/pyenv/bin/python bench/viewstats/bench_aggregator.py --views 300000 --runs 3

Beacons are produced first (peak-rate time density: all inside a few minutes, Zipf over 20k resources,
2 % client retries), then each run consumes the whole topic with a fresh consumer group and database.
Prints one JSON line per run and the medians.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import get_args

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "libs"), str(ROOT / "services"), str(ROOT)]

from aiokafka import AIOKafkaProducer, TopicPartition  # noqa: E402
from aiokafka.admin import NewTopic  # noqa: E402
from aiokafka.partitioner import DefaultPartitioner  # noqa: E402
from pymongo import AsyncMongoClient  # noqa: E402

from common.kafka import kafka_admin, kafka_client_options, kafka_consumer, kafka_producer  # noqa: E402
from common.settings import ServiceSettings  # noqa: E402
from common.store import insert_new  # noqa: E402
from deploy.local.traffic import TrafficGenerator  # noqa: E402
from viewstats.aggregator import FETCH, FETCH_RECORDS, Aggregator  # noqa: E402
from viewstats.domain.beacon import View, parse_beacon  # noqa: E402
from viewstats.domain.partition import READER  # noqa: E402
from viewstats.settings import ViewstatsSettings  # noqa: E402
from viewstats.store import ViewStore  # noqa: E402
from viewstats.wire import compression_type, view_record  # noqa: E402

BOOTSTRAP = ServiceSettings().kafka_bootstrap_servers  # KAFKA_BOOTSTRAP_SERVERS, else the local default
KAFKA_LIBS = ROOT / ".cache/kafka/4.1.1/libs/*"
RESOURCES = 20_000


async def produce(topic: str, n: int, whole_day: bool, compression: str) -> int:
    """``n`` distinct beacons (plus 2 % retries): packed into the last 5 minutes (peak density), or the views of
    yesterday by the diurnal curve in time order (``TrafficGenerator.views``), as the topic holds a day that is
    replayed. Records are those the collector writes (``view_record``), keyed and partitioned as it does."""
    gen = TrafficGenerator(resources=RESOURCES, visitors=2_000_000, duplicate_share=0.02, seed=42)
    now = int(time.time() * 1000)
    today = datetime.now(UTC).date()
    if whole_day:
        views = gen.views(today - timedelta(days=1), n)
    else:
        items = gen.day(today, n)
        views = (parse_beacon(item | {"time": now - 300_000 + (i * 300_000) // n}, now) for i, item in enumerate(items))
    return await produce_views(topic, views, compression)


async def produce_views(topic: str, views: Iterable[View], compression: str) -> int:
    """Write ``views`` as the collector's records (its codec), in per-partition batches; returns how many."""
    producer = kafka_producer(
        max_batch_size=512 * 1024,
        enable_idempotence=True,
        compression_type=compression_type(compression),
    )
    await producer.start()
    try:
        return await send_in_batches(producer, topic, (view_record(v) for v in views))
    finally:
        await producer.stop()


async def send_in_batches(producer: AIOKafkaProducer, topic: str, records) -> int:
    """Fill one batch per partition (the default partitioner's choice, cached per key) and send each when full:
    ``send()`` per record costs ≈ 20 µs of Python, too slow for a 90-million-view day."""
    partitions = sorted(await producer.partitions_for(topic))
    partition_of: dict[bytes, int] = {}
    batches = {p: producer.create_batch() for p in partitions}
    in_flight: list[asyncio.Future] = []
    sent = 0
    for key, value, headers in records:
        p = partition_of.get(key)
        if p is None:
            p = partition_of[key] = DefaultPartitioner()(key, partitions, partitions)
        while batches[p].append(key=key, value=value, timestamp=None, headers=headers) is None:  # full
            in_flight.append(await producer.send_batch(batches[p], topic, partition=p))
            batches[p] = producer.create_batch()
            if len(in_flight) >= 64:
                await asyncio.gather(*in_flight)
                in_flight = []
        sent += 1
    for p, batch in batches.items():
        if batch.record_count():
            in_flight.append(await producer.send_batch(batch, topic, partition=p))
    await asyncio.gather(*in_flight)
    return sent


def java_client_config() -> list[str]:
    """``--consumer.config <file>`` of Kafka's ConsumerPerformance: the Python clients' login (none on PLAINTEXT)."""
    options = kafka_client_options()
    if "sasl_mechanism" not in options:
        return []
    module = "scram.ScramLoginModule" if options["sasl_mechanism"].startswith("SCRAM") else "plain.PlainLoginModule"
    config = tempfile.NamedTemporaryFile("w", suffix=".properties", delete=False)  # noqa: SIM115 - the tool reads it
    with config:
        config.write(
            f"security.protocol={options['security_protocol']}\nsasl.mechanism={options['sasl_mechanism']}\n"
            f"sasl.jaas.config=org.apache.kafka.common.security.{module} required "
            f'username="{options["sasl_plain_username"]}" password="{options["sasl_plain_password"]}";\n'
        )
    return ["--consumer.config", config.name]


def consumer_performance(topic: str, n: int) -> dict:
    config = java_client_config()
    try:
        out = (
            subprocess.run(
                [
                    "java",
                    "-cp",
                    str(KAFKA_LIBS),
                    "org.apache.kafka.tools.ConsumerPerformance",
                    "--bootstrap-server",
                    BOOTSTRAP,
                    "--topic",
                    topic,
                    "--messages",
                    str(n),
                    "--group",
                    f"bench-cp-{uuid.uuid4().hex[:6]}",
                    *config,
                ],
                capture_output=True,
                text=True,
                check=True,
                timeout=max(300, n // 50_000),  # a whole day (90 million) takes minutes
            )
            .stdout.strip()
            .splitlines()
        )
    finally:
        if config:
            os.unlink(config[1])
    header = [h.strip() for h in out[0].split(",")]
    row = [c.strip() for c in out[-1].split(",")]
    rec = dict(zip(header, row, strict=False))
    return {
        "msgs_per_s": float(rec.get("nMsg.sec", 0)),
        "mb_per_s": float(rec.get("MB.sec", 0)),
        "fetch_msgs_per_s": float(rec.get("fetch.nMsg.sec", 0) or 0),
    }


async def bare_aiokafka(topic: str, n_records: int) -> float:
    """Records/s of a bare aiokafka consumer (the aggregator's fetch settings, no processing) reading the topic:
    the ceiling of any Python consumer built on aiokafka, a second baseline beside Kafka's Java one."""
    consumer = kafka_consumer(
        topic,
        group_id=f"bench-bare-{uuid.uuid4().hex[:6]}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        **FETCH,
    )
    await consumer.start()
    try:
        seen, started = 0, None
        while seen < n_records:
            batches = await consumer.getmany(timeout_ms=100, max_records=FETCH_RECORDS)
            if batches and started is None:
                started = time.perf_counter()
            seen += sum(len(records) for records in batches.values())
        return n_records / (time.perf_counter() - (started or time.perf_counter()))
    finally:
        await consumer.stop()


async def list_the_catalog(settings: ViewstatsSettings) -> None:
    """The catalog published the generator's resources (what viewstats' catalog consumer records): their views are
    counted per resource, as a real day's are (views of ids the catalog does not list are not, viewstats.listing)."""
    mongo = AsyncMongoClient(settings.mongodb_url)
    try:
        now = datetime.now(UTC)
        docs = [{"_id": r, "at": now} for r in TrafficGenerator(resources=RESOURCES).resources]
        await insert_new(mongo[settings.database_name()].resources, docs)
    finally:
        await mongo.close()


async def stored_views_then_drop(settings: ViewstatsSettings) -> int:
    """The all-time views the run stored (the exactness check of every run), then its database is dropped."""
    mongo = AsyncMongoClient(settings.mongodb_url)
    try:
        store = ViewStore(mongo[settings.database_name()])
        return (await store.counts("d", ["total"], "all", settings.partitions))["total"]["all"]
    finally:
        await mongo.drop_database(settings.database_name())
        await mongo.close()


async def aggregate(topic: str, n_records: int, partitions: int, client: str = "aiokafka") -> dict:
    tag = uuid.uuid4().hex[:6]
    settings = ViewstatsSettings(
        aggregator_client=client,
        views_topic=topic,
        mongodb_database_prefix=f"bench_{tag}_",
        partitions=partitions,
        kafka_client_prefix=f"bench-{tag}-",
        flush_interval_seconds=1.0,
        flush_max_records=200_000,
    )
    await list_the_catalog(settings)
    mongo = AsyncMongoClient(settings.mongodb_url)
    agg = Aggregator(settings, ViewStore(mongo[settings.database_name()]))
    expiries = ExpiryCount()
    watch = GroupWatch(settings.kafka_client_prefix + settings.aggregator_group, topic, partitions)
    await watch.start()  # before the clock: its clients take a second to start
    started, started_cpu = time.perf_counter(), time.process_time()
    await agg.start()
    joined = None
    try:
        while joined is None or not await watch.done():
            await asyncio.sleep(0.05)
            if joined is None and len(agg.states) == partitions:
                joined, joined_cpu = time.perf_counter(), time.process_time()
    finally:
        await watch.stop()
        expiries.close()
    elapsed = time.perf_counter() - started
    consuming = time.perf_counter() - (joined or started)
    # CPU seconds of this process (all its threads) while consuming: the per-core rate, which other processes'
    # load on a shared machine changes far less than the wall-clock rate
    cpu = time.process_time() - (joined_cpu if joined else started_cpu)
    counted = agg.counted
    await agg.stop()
    await mongo.close()
    total = await stored_views_then_drop(settings)
    return {
        "records": n_records,
        "seconds_with_join": round(elapsed, 2),
        "seconds": round(consuming, 2),
        "records_per_s": round(n_records / consuming),
        "cpu_seconds": round(cpu, 2),
        "records_per_cpu_s": round(n_records / cpu),
        "views_counted": counted,
        "views_stored": total,
        "heartbeat_expiries": expiries.n,
        "reader": READER,  # the compiled record reader or the pure-Python one (not built)
    }


class GroupWatch:
    """Whether a consumer group has committed the end of the topic: one offsets request to the group's
    coordinator per check, on a client of its own (polling through the aggregator's own consumer, 12 requests
    every 50 ms, queued on its coordinator connection beside its heartbeats)."""

    def __init__(self, group: str, topic: str, partitions: int) -> None:
        self.group, self.tps = group, [TopicPartition(topic, p) for p in range(partitions)]
        self.admin, self.consumer = (
            kafka_admin(),
            kafka_consumer(),
        )
        self.ends: dict[TopicPartition, int] = {}
        self.total = 0  # records up to the end offsets read at start

    async def start(self) -> None:
        await self.admin.start()
        await self.consumer.start()
        self.ends = await self.consumer.end_offsets(self.tps)
        self.total = sum(self.ends.values())

    async def committed(self) -> int:
        """Records committed so far, up to the end offsets."""
        offsets = await self.admin.list_consumer_group_offsets(self.group, partitions=self.tps)
        return sum(min(c.offset, self.ends[tp]) for tp, c in offsets.items() if tp in self.ends and c.offset >= 0)

    async def done(self) -> bool:
        return await self.committed() >= self.total

    async def stop(self) -> None:
        await self.consumer.stop()
        await self.admin.close()


class ExpiryCount(logging.Handler):
    """Counts aiokafka's "Heartbeat session expired" (each one is a rebalance, and a re-read de-dup window)."""

    def __init__(self) -> None:
        super().__init__()
        self.n = 0
        logging.getLogger("aiokafka.consumer.group_coordinator").addHandler(self)

    def emit(self, record: logging.LogRecord) -> None:
        self.n += "session expired" in record.getMessage()

    def close(self) -> None:
        logging.getLogger("aiokafka.consumer.group_coordinator").removeHandler(self)
        super().close()


def start_aggregators(env: dict[str, str], logs: list[Path]) -> list[subprocess.Popen]:
    return [
        subprocess.Popen(
            [sys.executable, "-m", "viewstats.aggregator"], env=env, stdout=log.open("w"), stderr=subprocess.STDOUT
        )
        for log in logs
    ]


async def aggregate_in_processes(
    topic: str, n_records: int, partitions: int, processes: int, client: str = "aiokafka"
) -> dict:
    """The same, with ``processes`` standalone aggregators (``python -m viewstats.aggregator``, as deployed)
    sharing the consumer group: the clock starts when the first of them has its partitions loaded (the
    aggregators start together, so Kafka's initial rebalance delay gives them one assignment) and stops when
    the group has committed the whole topic."""
    tag = uuid.uuid4().hex[:6]
    prefix, client_prefix = f"bench_{tag}_", f"bench-{tag}-"
    env = {
        **os.environ,
        "PYTHONPATH": f"{ROOT / 'libs'}:{ROOT / 'services'}",
        "KAFKA_BOOTSTRAP_SERVERS": BOOTSTRAP,
        "VIEWSTATS_VIEWS_TOPIC": topic,
        "VIEWSTATS_AGGREGATOR_CLIENT": client,
        "VIEWSTATS_PARTITIONS": str(partitions),
        "MONGODB_DATABASE_PREFIX": prefix,
        "KAFKA_CLIENT_PREFIX": client_prefix,
        "VIEWSTATS_FLUSH_INTERVAL_SECONDS": "1.0",
        "VIEWSTATS_FLUSH_MAX_RECORDS": "200000",
        "LOG_LEVEL": "WARNING",
        "VIEWSTATS_LOG_LEVEL": "INFO",
    }
    settings = ViewstatsSettings(mongodb_database_prefix=prefix, partitions=partitions)
    await list_the_catalog(settings)
    logs = [Path(tempfile.mkstemp(prefix=f"bench-aggregator-{i}-", suffix=".log")[1]) for i in range(processes)]
    procs = start_aggregators(env, logs)
    watch = GroupWatch(client_prefix + settings.aggregator_group, topic, partitions)
    await watch.start()
    try:
        while not await watch.done():
            await asyncio.sleep(0.05)
            if any(p.poll() is not None for p in procs):
                raise RuntimeError(f"an aggregator exited; see {logs}")
        done = time.time()
    finally:
        await watch.stop()
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            proc.wait(timeout=60)
    loaded, expiries = [], 0
    for log in logs:  # "2026-12-01 01:53:00,123 viewstats.aggregator partitions [...] loaded in 0.1 s"
        for line in log.read_text().splitlines():
            expiries += "Heartbeat session expired" in line
            if " loaded in " in line:
                stamp = datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").astimezone()
                loaded.append(stamp.timestamp())
        log.unlink()
    consuming = done - min(loaded)
    total = await stored_views_then_drop(settings)
    return {
        "records": n_records,
        "processes": processes,
        "seconds": round(consuming, 2),
        "records_per_s": round(n_records / consuming),
        "views_stored": total,
        "heartbeat_expiries": expiries,
    }


async def topic_records(topic: str, partitions: int) -> int:
    consumer = kafka_consumer()
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        ends, starts = await consumer.end_offsets(tps), await consumer.beginning_offsets(tps)
        return sum(ends[tp] - starts[tp] for tp in tps)
    finally:
        await consumer.stop()


def median(values) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--views", type=int, default=300_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--partitions", type=int, default=12)
    ap.add_argument("--day", action="store_true", help="spread the views over yesterday (a replayed day)")
    ap.add_argument(
        "--processes", type=int, default=0, help="standalone aggregator processes (0: one aggregator in this process)"
    )
    ap.add_argument(
        "--compression",
        choices=get_args(ViewstatsSettings.model_fields["views_compression"].annotation),
        default=ViewstatsSettings().views_compression,
        help="the producer's codec (default: the collector's, VIEWSTATS_VIEWS_COMPRESSION)",
    )
    ap.add_argument("--client", choices=("aiokafka", "confluent"), default="aiokafka", help="the aggregator's client")
    ap.add_argument("--topic", help="replay this existing topic (kept) instead of producing a new one")
    ap.add_argument("--keep-topic", action="store_true", help="keep the produced topic (for --topic in later runs)")
    ap.add_argument(
        "--no-bare-baseline", action="store_true", help="skip the bare aiokafka baseline (10 minutes on a whole day)"
    )
    args = ap.parse_args()
    topic = args.topic or f"bench.viewstats.views.{uuid.uuid4().hex[:6]}"
    admin = kafka_admin()
    await admin.start()
    if args.topic:
        n = await topic_records(topic, args.partitions)
        print(json.dumps({"topic": topic, "records": n}), flush=True)
    else:
        await admin.create_topics([NewTopic(topic, args.partitions, 1)])
    try:
        if not args.topic:
            t = time.perf_counter()
            n = await produce(topic, args.views, args.day, args.compression)
            print(json.dumps({"produced": n, "topic": topic, "seconds": round(time.perf_counter() - t, 1)}), flush=True)
        rows = []
        for _ in range(args.runs):
            kafka = consumer_performance(topic, n)
            bare = None if args.no_bare_baseline else await bare_aiokafka(topic, n)
            ours = (
                await aggregate_in_processes(topic, n, args.partitions, args.processes, args.client)
                if args.processes
                else await aggregate(topic, n, args.partitions, args.client)
            )
            row = {
                **ours,
                "kafka_consumer_perf_msgs_per_s": round(kafka["msgs_per_s"]),
                "ratio": round(ours["records_per_s"] / kafka["msgs_per_s"], 3) if kafka["msgs_per_s"] else None,
                "bare_aiokafka_msgs_per_s": round(bare) if bare else None,
                "ratio_to_bare_aiokafka": round(ours["records_per_s"] / bare, 3) if bare else None,
            }
            rows.append(row)
            print(json.dumps(row), flush=True)
        if not rows:  # --runs 0: produce (and --keep-topic) only
            return
        print(
            json.dumps(
                {
                    "median_records_per_s": statistics.median(r["records_per_s"] for r in rows),
                    "median_kafka_msgs_per_s": statistics.median(r["kafka_consumer_perf_msgs_per_s"] for r in rows),
                    "median_ratio": median(r["ratio"] for r in rows),  # None: ConsumerPerformance failed
                    "median_bare_aiokafka_msgs_per_s": median(r["bare_aiokafka_msgs_per_s"] for r in rows),
                    "median_ratio_to_bare_aiokafka": median(r["ratio_to_bare_aiokafka"] for r in rows),
                }
            )
        )
    finally:
        if not (args.topic or args.keep_topic):
            await admin.delete_topics([topic])
        await admin.close()


if __name__ == "__main__":
    asyncio.run(main())
