"""What a plain-callable FastAPI dependency costs per request against the same dependency as a coroutine: FastAPI
runs a plain ``def`` (or a class used as a dependency, like catalog's old ``Filters``) in a worker thread, a thread
hop per request. Two otherwise identical routes: one depends on catalog's own ``resource_filters``, the other on a
plain function with its signature; called in process through ASGI, alternating in rounds; medians of the rounds'
µs per request and their ratio.

    PYTHONPATH=libs:services .cache/pyenv/bin/python bench/common/bench_dependencies.py --rounds 7 --requests 3000
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import os
import statistics
import time
from typing import Annotated

import httpx
from fastapi import Depends, FastAPI

from catalog.api import resource_filters


def thread_filters(**filters: object) -> dict:
    """Catalog's filters as a plain callable (as its ``Filters`` class was): FastAPI calls it in a worker thread."""
    return filters


thread_filters.__signature__ = inspect.signature(resource_filters)  # the same six parameters, read by FastAPI


app = FastAPI()


@app.get("/thread")
async def via_thread(filters: Annotated[dict, Depends(thread_filters)]) -> dict:
    return filters


@app.get("/loop")
async def via_loop(filters: Annotated[dict, Depends(resource_filters)]) -> dict:
    return filters


async def main(rounds: int, requests: int) -> dict:
    params = {"section": "tbzy", "grade": 3, "subject": "math"}
    results: dict[str, list[float]] = {"/thread": [], "/loop": []}
    cpu: dict[str, list[float]] = {"/thread": [], "/loop": []}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as client:
        for path in results:  # warm-up
            for _ in range(200):
                await client.get(path, params=params)
        for _ in range(rounds):
            for path in results:
                t, c = time.perf_counter(), time.process_time()
                for _ in range(requests):
                    await client.get(path, params=params)
                results[path].append((time.perf_counter() - t) / requests * 1e6)
                cpu[path].append((time.process_time() - c) / requests * 1e6)
    wall = {p: statistics.median(v) for p, v in results.items()}
    cpu_med = {p: statistics.median(v) for p, v in cpu.items()}
    return {
        "load_before": os.getloadavg()[0],
        "wall_us_per_request": wall,
        "cpu_us_per_request": cpu_med,
        "thread_over_loop_wall": wall["/thread"] / wall["/loop"],
        "thread_over_loop_cpu": cpu_med["/thread"] / cpu_med["/loop"],
        "rounds": rounds,
        "requests_per_round": requests,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--requests", type=int, default=3000)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(main(args.rounds, args.requests)), indent=2))
