"""Collector throughput: batches of 1,000 beacons (views/s) and single beacons (req/s, p50/p99), against
the collector served by uvicorn in a subprocess, producing to a private topic.

    .cache/pyenv/bin/python bench/viewstats/bench_collector.py --seconds 10 --runs 3
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import uuid
from datetime import date
from pathlib import Path

import httpx
import orjson

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "libs"), str(ROOT / "services")]

from aiokafka.admin import AIOKafkaAdminClient, NewTopic  # noqa: E402

from common.settings import ServiceSettings  # noqa: E402
from viewstats.domain.traffic import TrafficGenerator  # noqa: E402

BOOTSTRAP = ServiceSettings().kafka_bootstrap_servers  # KAFKA_BOOTSTRAP_SERVERS, else the local default


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bodies(n_batches: int, size: int) -> list[bytes]:
    gen = TrafficGenerator(resources=20_000, duplicate_share=0.0, seed=9)
    now = int(time.time() * 1000)
    out = []
    for _ in range(n_batches):
        items = [dict(gen.beacon(date.today()), time=now) for _ in range(size)]
        out.append(orjson.dumps({"views": items} if size > 1 else items[0]))
    return out


async def hammer(url: str, payloads: list[bytes], seconds: float, concurrency: int) -> list[float]:
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds
    async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=concurrency)) as client:

        async def worker(w: int) -> None:
            i = w
            while time.perf_counter() < deadline:
                t = time.perf_counter()
                r = await client.post(
                    url,
                    content=payloads[i % len(payloads)],
                    headers={"content-type": "application/json", "x-forwarded-for": "123.112.0.1"},
                )
                assert r.status_code == 202, r.text
                latencies.append(time.perf_counter() - t)
                i += concurrency

        await asyncio.gather(*(worker(w) for w in range(concurrency)))
    return latencies


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return round(xs[min(len(xs) - 1, int(p * len(xs)))] * 1000, 2)


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    topic = f"bench.viewstats.collector.{uuid.uuid4().hex[:6]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=BOOTSTRAP)
    await admin.start()
    await admin.create_topics([NewTopic(topic, 12, 1)])
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": f"{ROOT / 'libs'}:{ROOT / 'services'}",
        "VIEWSTATS_VIEWS_TOPIC": topic,
        "LOG_LEVEL": "WARNING",
    }
    server = subprocess.Popen(  # noqa: ASYNC220 - started once before the measurement
        [
            sys.executable,
            "-m",
            "uvicorn",
            "viewstats.collector_app:create_app",
            "--factory",
            "--port",
            str(port),
            "--no-access-log",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    try:
        url = f"http://127.0.0.1:{port}/v1/views"
        async with httpx.AsyncClient() as probe:
            for _ in range(100):
                try:
                    if (await probe.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.2)
        batch_bodies, single_bodies = bodies(20, 1000), bodies(2000, 1)
        batch_rows, single_rows = [], []
        for _ in range(args.runs):
            lat = await hammer(url, batch_bodies, args.seconds, 4)
            batch_rows.append(
                {
                    "views_per_s": round(len(lat) * 1000 / args.seconds),
                    "p50_ms": pct(lat, 0.5),
                    "p99_ms": pct(lat, 0.99),
                }
            )
            print(json.dumps({"batch_1000": batch_rows[-1]}), flush=True)
            lat = await hammer(url, single_bodies, args.seconds, 32)
            single_rows.append(
                {"req_per_s": round(len(lat) / args.seconds), "p50_ms": pct(lat, 0.5), "p99_ms": pct(lat, 0.99)}
            )
            print(json.dumps({"single": single_rows[-1]}), flush=True)
        print(
            json.dumps(
                {
                    "median_batch_views_per_s": statistics.median(r["views_per_s"] for r in batch_rows),
                    "median_batch_p50_ms": statistics.median(r["p50_ms"] for r in batch_rows),
                    "median_batch_p99_ms": statistics.median(r["p99_ms"] for r in batch_rows),
                    "median_single_req_per_s": statistics.median(r["req_per_s"] for r in single_rows),
                    "median_single_p50_ms": statistics.median(r["p50_ms"] for r in single_rows),
                    "median_single_p99_ms": statistics.median(r["p99_ms"] for r in single_rows),
                }
            )
        )
    finally:
        server.terminate()
        server.wait(timeout=30)
        await admin.delete_topics([topic])
        await admin.close()


if __name__ == "__main__":
    asyncio.run(main())
