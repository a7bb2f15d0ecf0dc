"""The service with CPython's cyclic garbage collector timed (``bench_classgroups.py --gc-stats``): collections and
the CPU time they took, by generation, over the first submissions round's middle half.

The benchmark sends SIGUSR1 as that window opens and SIGUSR2 as it closes (as for ``profiled.py``); at SIGUSR2 the
window's counts are written to the JSON file named on the command line, and the benchmark reads them. Time is each
collecting thread's CPU time (``gc.callbacks`` run in the thread that collects), so a preempted collection does
not look longer than it was.
"""

from __future__ import annotations

import gc
import json
import signal
import sys
import time
from typing import Any

import uvicorn


def main() -> None:
    port, out = int(sys.argv[1]), sys.argv[2]
    totals = {generation: [0, 0.0] for generation in range(3)}  # collections, CPU seconds
    started: dict[int, float] = {}
    window: dict[str, Any] = {}

    def timed(phase: str, info: dict[str, int]) -> None:
        generation = info["generation"]
        if phase == "start":
            started[generation] = time.thread_time()
        elif generation in started:
            totals[generation][0] += 1
            totals[generation][1] += time.thread_time() - started.pop(generation)

    def mark(name: str) -> None:
        window[name] = {"at": time.monotonic(), "totals": {g: list(v) for g, v in totals.items()}}
        if name == "close" and "open" in window:
            opened, closed = window["open"], window["close"]
            stats = {
                "seconds": closed["at"] - opened["at"],
                "threshold": gc.get_threshold(),
                "by_generation": {
                    g: {
                        "collections": closed["totals"][g][0] - opened["totals"][g][0],
                        "cpu_s": closed["totals"][g][1] - opened["totals"][g][1],
                    }
                    for g in totals
                },
            }
            with open(out, "w") as f:
                json.dump(stats, f)

    gc.callbacks.append(timed)
    signal.signal(signal.SIGUSR1, lambda *_: window.get("open") or mark("open"))
    signal.signal(signal.SIGUSR2, lambda *_: window.get("close") or mark("close"))
    uvicorn.run("classgroups.app:create_app", factory=True, port=port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
