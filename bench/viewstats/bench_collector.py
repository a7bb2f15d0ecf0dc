"""Collector throughput under `wrk` (a C load generator, so the client is not what is measured): batches of
1,000 beacons (views/s) and single beacons (req/s, p50/p99). In the same run, the same uvicorn serving a trivial
FastAPI endpoint (parse the JSON body, answer 202) is the baseline: the collector's rate is reported as a ratio of it.

    make bench-tools   # Debian's wrk, once
    .cache/pyenv/bin/python bench/viewstats/bench_collector.py --seconds 10 --runs 3 --workers 1
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from datetime import date
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "libs"), str(ROOT / "services"), str(ROOT)]

from aiokafka.admin import NewTopic  # noqa: E402

from common.kafka import kafka_admin  # noqa: E402
from common.settings import ServiceSettings  # noqa: E402
from deploy.local.traffic import TrafficGenerator  # noqa: E402

BOOTSTRAP = ServiceSettings().kafka_bootstrap_servers  # KAFKA_BOOTSTRAP_SERVERS, else the local default

# wrk prints its latency distribution with --latency; the Lua `done` hook adds exact percentiles and counts.
REPORT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-Forwarded-For"] = "123.112.0.1"
local f = io.open("%s", "rb"); wrk.body = f:read("*all"); f:close()
done = function(summary, latency, requests)
  io.write(string.format("RESULT %%d %%d %%d %%.3f %%.3f\\n", summary.requests, summary.duration,
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write
      + summary.errors.timeout,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def body(size: int) -> bytes:
    gen = TrafficGenerator(resources=20_000, duplicate_share=0.0, seed=9)
    now = int(time.time() * 1000)
    items = [dict(gen.beacon(date.today()), time=now) for _ in range(size)]
    return orjson.dumps({"views": items} if size > 1 else items[0])


def serve(factory: str, port: int, env: dict[str, str], workers: int) -> subprocess.Popen:
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "uvicorn", factory, "--factory", "--port", str(port)),
            *("--workers", str(workers), "--no-access-log", "--log-level", "warning"),
        ],
        cwd=ROOT,
        env=env,
    )
    for _ in range(200):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                return proc
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{factory} did not start")


def wrk(url: str, payload: bytes, seconds: float, connections: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "body.json").write_bytes(payload)
        script = Path(tmp) / "post.lua"
        script.write_text(REPORT % (Path(tmp) / "body.json"))
        out = subprocess.run(
            ["wrk", "-t1", f"-c{connections}", f"-d{round(seconds)}s", "-s", str(script), url],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    requests, duration_us, errors, p50, p99 = re.search(r"RESULT (\d+) (\d+) (\d+) ([\d.]+) ([\d.]+)", out).groups()
    return {
        "req_per_s": round(int(requests) / (int(duration_us) / 1e6)),
        "errors": int(errors),
        "p50_ms": float(p50),
        "p99_ms": float(p99),
    }


def median_of(rows: list[dict[str, float]]) -> dict[str, float]:
    return {k: statistics.median(r[k] for r in rows) for k in rows[0]}


async def create_topic(topic: str) -> None:
    admin = kafka_admin()
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 12, 1)])
    finally:
        await admin.close()


def collector_env(bench: str) -> dict[str, str]:
    """The environment of collectors under `wrk`, writing to a fresh views topic of their own."""
    if shutil.which("wrk") is None:
        sys.exit("wrk is missing: `make bench-tools` installs Debian's wrk")
    topic = f"bench.viewstats.{bench}.{uuid.uuid4().hex[:6]}"
    asyncio.run(create_topic(topic))
    return {
        **os.environ,
        "PYTHONPATH": f"{ROOT / 'libs'}:{ROOT / 'services'}:{ROOT}",
        "VIEWSTATS_VIEWS_TOPIC": topic,
        "LOG_LEVEL": "WARNING",
        # wrk plays the ingress (its X-Forwarded-For is the client's address, for the province lookup) and is one
        # client far beyond any school's rate: the limiter runs (its cost is measured) but never refuses.
        "TRUSTED_PROXY_HOPS": "1",
        "VIEWSTATS_COLLECTOR_IP_RATE_PER_SECOND": "1000000000",
        "VIEWSTATS_COLLECTOR_IP_BURST": "1000000000",
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--workers", type=int, default=1, help="uvicorn worker processes (both servers)")
    ap.add_argument("--connections", type=int, default=64)
    args = ap.parse_args()
    env = collector_env("collector")
    cport, bport = free_port(), free_port()
    servers = [
        serve("viewstats.collector.app:create_app", cport, env, args.workers),
        serve("bench.viewstats.trivial_app:create_app", bport, env, args.workers),
    ]
    single, batch = body(1), body(1000)
    rows: dict[str, list[dict[str, float]]] = {"baseline_single": [], "single": [], "baseline_batch": [], "batch": []}
    try:
        for _ in range(args.runs):  # interleaved, so that both see the same machine
            for name, port, payload in (
                ("baseline_single", bport, single),
                ("single", cport, single),
                ("baseline_batch", bport, batch),
                ("batch", cport, batch),
            ):
                conns = args.connections if "single" in name else 8
                rows[name].append(wrk(f"http://127.0.0.1:{port}/v1/views", payload, args.seconds, conns))
                print(json.dumps({name: rows[name][-1]}), flush=True)
    finally:
        for s in servers:
            s.terminate()
            s.wait(timeout=30)
    med = {k: median_of(v) for k, v in rows.items()}
    for k in ("batch", "baseline_batch"):
        med[k]["views_per_s"] = med[k]["req_per_s"] * 1000
    med["ratio_single"] = round(med["single"]["req_per_s"] / med["baseline_single"]["req_per_s"], 3)
    med["ratio_batch"] = round(med["batch"]["req_per_s"] / med["baseline_batch"]["req_per_s"], 3)
    print(json.dumps({"median_of": args.runs, "workers": args.workers, **med}, indent=2))


if __name__ == "__main__":
    main()
