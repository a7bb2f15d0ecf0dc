"""A/B of the chassis' request-body limit on the collector's hot path: the same collector served twice in one run,
with the chassis as it is (BodyLimitMiddleware) and with that middleware taken out, single beacons under `wrk`,
interleaved so that both see the same machine. Reports medians and the ratio (with / without).

    make bench-tools
    .cache/pyenv/bin/python bench/common/bench_body_limit.py --seconds 8 --runs 5
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "libs"), str(ROOT / "services"), str(ROOT)]

from bench.viewstats.bench_collector import body, collector_env, free_port, serve, wrk  # noqa: E402


def collector_without_body_limit():
    """The collector's app factory, less the body-limit middleware (Starlette builds its stack on first call)."""
    from common.bodylimit import BodyLimitMiddleware
    from viewstats.collector.app import create_app

    app = create_app()
    app.user_middleware = [m for m in app.user_middleware if m.cls is not BodyLimitMiddleware]
    return app


def middleware_cost_us(calls: int = 200_000, repeats: int = 7) -> dict[str, float]:
    """CPU time per request that the middleware adds on the collector's path (a POST with a Content-Length and
    the headers wrk sends), in process time, which a loaded machine disturbs far less than wall-clock rates."""
    import time

    from common.bodylimit import BodyLimitMiddleware

    async def app(scope, receive, send):
        return None

    headers = [
        (b"host", b"127.0.0.1"),
        (b"content-type", b"application/json"),
        (b"x-forwarded-for", b"123.112.0.1"),
        (b"content-length", b"312"),
    ]
    scope = {"type": "http", "method": "POST", "path": "/v1/views", "headers": headers}
    limited = BodyLimitMiddleware(app, max_bytes=1_048_576)

    async def measure(target) -> float:
        t = time.process_time()
        for _ in range(calls):
            await target(scope, None, None)
        return (time.process_time() - t) / calls * 1e6

    async def both() -> tuple[list[float], list[float]]:
        bare, wrapped = [], []
        for _ in range(repeats):
            bare.append(await measure(app))
            wrapped.append(await measure(limited))
        return bare, wrapped

    bare, wrapped = asyncio.run(both())
    return {
        "bare_us": round(statistics.median(bare), 3),
        "with_middleware_us": round(statistics.median(wrapped), 3),
        "added_us": round(statistics.median(wrapped) - statistics.median(bare), 3),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=8)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--micro-only", action="store_true", help="only the in-process CPU cost per request")
    args = ap.parse_args()
    print(json.dumps({"middleware_cpu_per_request": middleware_cost_us()}), flush=True)
    if args.micro_only:
        return
    env = collector_env("bodylimit")
    ports = {"with_limit": free_port(), "without_limit": free_port()}
    servers = [
        serve("viewstats.collector.app:create_app", ports["with_limit"], env, 1),
        serve("bench.common.bench_body_limit:collector_without_body_limit", ports["without_limit"], env, 1),
    ]
    single = body(1)
    rows: dict[str, list[dict[str, float]]] = {name: [] for name in ports}
    try:
        for run in range(args.runs):
            order = list(ports) if run % 2 == 0 else list(reversed(ports))  # neither always goes first
            for name in order:
                rows[name].append(
                    wrk(f"http://127.0.0.1:{ports[name]}/v1/views", single, args.seconds, args.connections)
                )
                print(json.dumps({name: rows[name][-1]}), flush=True)
    finally:
        for s in servers:
            s.terminate()
            s.wait(timeout=30)
    med = {name: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for name, rs in rows.items()}
    med["ratio_req_per_s"] = round(med["with_limit"]["req_per_s"] / med["without_limit"]["req_per_s"], 3)
    print(json.dumps({"median_of": args.runs, **med}, indent=2))


if __name__ == "__main__":
    main()
