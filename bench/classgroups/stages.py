"""The service with a submission's stages timed (``bench_classgroups.py --stages``): wall time of the whole
handler, of the photo's read, of the wait for its group's write (``GroupInsert.insert``), of each group's write, and
the event loop's lag (how late a 1 ms sleep wakes), over the first submissions round's middle half.

Where a request's time goes when the machine is busy: session 20 found that the rate is the one group writer's
(a dozen documents per write), and that each write's two round trips took three times FerretDB's CPU for them
(``docs/BENCHMARKS.md``). The window is opened by SIGUSR1 and closed by SIGUSR2 (as for ``gc_timed.py``), and the
percentiles are written to the JSON file named on the command line at the close.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import classgroups.media_head
from bench.classgroups.serve import serve
from classgroups.handlers.checkins import submissions
from common import group_insert

SLEEP = 0.001
samples: dict[str, list[float]] = {"submit": [], "read_head": [], "group_insert": [], "write": [], "loop_lag": []}
window = {"open": False, "lag_started": False}


async def _lag() -> None:
    while True:
        start = time.monotonic()
        await asyncio.sleep(SLEEP)
        if window["open"]:
            samples["loop_lag"].append(time.monotonic() - start - SLEEP)


def _timed(owner: Any, name: str, key: str) -> None:
    original: Callable[..., Any] = getattr(owner, name)

    async def timed(*args: Any, **kwargs: Any) -> Any:
        if not window["lag_started"]:
            window["lag_started"] = True
            asyncio.get_running_loop().create_task(_lag())
        start = time.monotonic()
        try:
            return await original(*args, **kwargs)
        finally:
            if window["open"]:
                samples[key].append(time.monotonic() - start)

    setattr(owner, name, timed)


def _summary() -> dict[str, dict[str, float]]:
    out = {}
    for key, values in samples.items():
        values = sorted(values)
        if values:
            n = len(values)
            out[key] = {
                "n": n,
                "mean_ms": round(1000 * sum(values) / n, 2),
                "p50_ms": round(1000 * values[n // 2], 2),
                "p90_ms": round(1000 * values[int(n * 0.9)], 2),
                "p99_ms": round(1000 * values[int(n * 0.99)], 2),
            }
    return out


def main() -> None:
    port, out = int(sys.argv[1]), sys.argv[2]
    _timed(submissions.Submissions, "submit", "submit")
    _timed(classgroups.media_head.HeadReader, "read_head", "read_head")
    _timed(group_insert.GroupInsert, "insert", "group_insert")
    _timed(group_insert.GroupInsert, "_insert", "write")

    def close(*_: object) -> None:
        window["open"] = False
        if not Path(out).exists():
            Path(out).write_text(json.dumps(_summary()))

    signal.signal(signal.SIGUSR1, lambda *_: window.update(open=True))
    signal.signal(signal.SIGUSR2, close)
    serve(port)


if __name__ == "__main__":
    main()
