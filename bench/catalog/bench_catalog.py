"""Catalog benchmarks on the full demo catalog (88,000 resources), against the real Kafka and FerretDB.

    .cache/pyenv/bin/python bench/catalog/bench_catalog.py [--rounds 3]

Measures: bulk import time (through the HTTP import endpoint, in 10,000-line requests as deploy/local/demo.py
sends it), a new replica's start (ready: tree from the store, public catalog from the topic, search index; then
the background load of the editorial heads from the store), rebuild
of the public catalog from the topic (plain aiokafka consumer), detail and list latency and throughput with
and without the HTTP cache (If-None-Match → 304), search p50/p95. In-process ASGI calls: the numbers are
the service's own cost without network. Prints medians over rounds as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import random
import statistics
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "libs"), str(ROOT / "services"), str(ROOT)]

import httpx  # noqa: E402
import orjson  # noqa: E402
from pymongo import AsyncMongoClient  # noqa: E402

from common.contracts.catalog import ResourcePublished  # noqa: E402
from common.messaging import kafka_client_options  # noqa: E402
from common.settings import ServiceSettings  # noqa: E402
from deploy.local.demo_catalog import write_jsonl  # noqa: E402
from tests.integration.catalog.conftest import Tokens, start, stop  # noqa: E402

QUERIES = [
    "分数加减",
    "分数的意义",
    "勾股定理",
    "小数乘法",
    "古诗词",
    "二次函数",
    "敦煌",
    "Healthy food",
    "牛顿运动定律",
    "家庭教育 亲子沟通",
    "五年级 分数",
    "红色研学",
    "跳绳",
    "化学方程式",
    "整理和复习",
]


IMPORT_LINES = 10_000  # as deploy/local/demo.py


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p * len(xs)))] * 1000


async def timed(client: httpx.AsyncClient, paths: list[tuple[str, dict]]) -> tuple[list[float], float]:
    lat = []
    t0 = time.perf_counter()
    for path, headers in paths:
        t = time.perf_counter()
        r = await client.get(path, headers=headers)
        lat.append(time.perf_counter() - t)
        assert r.status_code in (200, 304), (path, r.status_code)
    return lat, len(paths) / (time.perf_counter() - t0)


async def rebuild_from_topic(ids: set[str]) -> float:
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(
        ResourcePublished.TOPIC,
        **kafka_client_options(),
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
        max_partition_fetch_bytes=8 * 1024 * 1024,
    )
    t0 = time.perf_counter()
    await consumer.start()
    state: dict[str, dict] = {}
    try:
        while len(state) < len(ids):
            batches = await consumer.getmany(timeout_ms=1000, max_records=20000)
            if not batches:
                break
            for records in batches.values():
                for rec in records:
                    key = rec.key.decode(errors="replace") if rec.key else None
                    if key in ids:
                        state[key] = orjson.loads(rec.value)
    finally:
        await consumer.stop()
    assert len(state) == len(ids), (len(state), len(ids))
    return time.perf_counter() - t0


async def main(rounds: int, rebuild_rounds: int) -> None:
    run = "bench" + uuid.uuid4().hex[:6]
    tokens = Tokens()
    buf = io.BytesIO()
    t = time.perf_counter()
    write_jsonl(buf)
    gen_seconds = time.perf_counter() - t
    lines = buf.getvalue()
    results: dict[str, list[float]] = {}

    def note(k: str, v: float) -> None:
        results.setdefault(k, []).append(v)

    running = await start(run, "a", tokens)
    try:
        # As deploy/local/demo.py loads it: requests of IMPORT_LINES lines, one after the other.
        rows = lines.splitlines()
        report: dict = {"created": 0, "error_count": 0, "seconds": {}}
        t = time.perf_counter()
        for i in range(0, len(rows), IMPORT_LINES):
            r = await running.client.post(
                "/v1/import",
                content=b"\n".join(rows[i : i + IMPORT_LINES]),
                headers=tokens.headers("admin", "ministry_admin"),
                timeout=600,
            )
            part = r.json()
            report["created"] += part["created"]
            report["error_count"] += part["error_count"]
            for k, v in part["seconds"].items():
                report["seconds"][k] = round(report["seconds"].get(k, 0) + v, 2)
        import_seconds = time.perf_counter() - t
        print(
            "import",
            report["created"],
            report["error_count"],
            report["seconds"],
            f"{import_seconds:.1f}s",
            file=sys.stderr,
        )
        read = running.app.state.catalog.read
        ids = [k for k, e in read.entries.items() if e.public and e.rev > 0]
        rng = random.Random(1)
        for _ in range(rounds):
            sample = [rng.choice(ids) for _ in range(2000)]
            lat, rps = await timed(running.client, [(f"/v1/resources/{i}", {}) for i in sample])
            note("detail_p50_ms", pct(lat, 0.5))
            note("detail_p99_ms", pct(lat, 0.99))
            note("detail_rps", rps)
            etags = {i: f'"{i}-v{read.entries[i].public_version}-{read.entries[i].cursor[:17]}"' for i in sample}
            lat, rps = await timed(
                running.client, [(f"/v1/resources/{i}", {"If-None-Match": etags[i]}) for i in sample]
            )
            note("detail_304_p50_ms", pct(lat, 0.5))
            note("detail_304_p99_ms", pct(lat, 0.99))
            note("detail_304_rps", rps)
            combos = [
                f"/v1/resources?stage={s}&grade={g}&subject={sub}&limit=20"
                for s, g, sub in [("primary", 5, "math"), ("junior", 8, "physics"), ("primary", 1, "chinese")]
            ]
            combos += [
                "/v1/resources?limit=20",
                "/v1/resources?section=after_school&order=hot&limit=20",
                "/v1/resources?kind=e_textbook&limit=20",
            ]
            paths = [(rng.choice(combos), {}) for _ in range(500)]
            lat, rps = await timed(running.client, paths)
            note("list_facets_p50_ms", pct(lat, 0.5))
            note("list_facets_p99_ms", pct(lat, 0.99))
            note("list_facets_rps", rps)
            lat, rps = await timed(running.client, [(p + "&facets=false", h) for p, h in paths])
            note("list_p50_ms", pct(lat, 0.5))
            note("list_p99_ms", pct(lat, 0.99))
            note("list_rps", rps)
            qs = [(f"/v1/search?q={rng.choice(QUERIES)}", {}) for _ in range(500)]
            lat, rps = await timed(running.client, qs)
            note("search_p50_ms", pct(lat, 0.5))
            note("search_p95_ms", pct(lat, 0.95))
            note("search_rps", rps)
            engine = []
            for q in QUERIES * 20:
                t = time.perf_counter()
                read.index.search(q)
                engine.append(time.perf_counter() - t)
            note("search_engine_p50_ms", pct(engine, 0.5))
            note("search_engine_p95_ms", pct(engine, 0.95))
    finally:
        await stop(running)
    for _ in range(rebuild_rounds):
        t = time.perf_counter()
        other = await start(run, f"rebuild-{uuid.uuid4().hex[:4]}", tokens)
        note("replica_ready_seconds", time.perf_counter() - t)
        stats = other.app.state.rebuild_stats
        note("replica_load_seconds", stats["ready_seconds"])  # topic → index ∥ tree
        note("replica_topic_seconds", stats["topic_seconds"])
        note("replica_tree_seconds", stats["tree_seconds"])
        note("replica_index_seconds", stats["index_seconds"])
        assert stats["public"] >= len(ids), stats
        service = other.app.state.catalog.replica
        await service.heads_ready.wait()  # the background load of the editorial heads, after readiness
        note("replica_heads_loaded_seconds", time.perf_counter() - t)
        note("replica_heads_scan_seconds", service.heads_stats["scan_seconds"])
        await stop(other)
    for _ in range(rebuild_rounds):
        note("rebuild_from_topic_seconds", await rebuild_from_topic(set(ids)))
    client = AsyncMongoClient(ServiceSettings().mongodb_url)
    await client.drop_database(f"test_catalog_{run}_catalog")
    await client.close()
    out = {
        "resources": len(ids),
        "generate_seconds": round(gen_seconds, 2),
        "import_seconds": round(import_seconds, 1),
        "import_phases": report["seconds"],
        **{k: round(statistics.median(v), 2) for k, v in results.items()},
    }
    print(orjson.dumps(out, option=orjson.OPT_INDENT_2).decode())


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rebuild-rounds", type=int, default=1)
    args = parser.parse_args()
    asyncio.run(main(args.rounds, args.rebuild_rounds))
