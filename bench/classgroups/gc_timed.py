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
from pathlib import Path
from typing import Any

from bench.classgroups.serve import serve


def main() -> None:
    port, out = int(sys.argv[1]), sys.argv[2]
    totals = {generation: [0, 0.0] for generation in range(3)}  # collections, CPU seconds
    started: dict[int, float] = {}
    opened: dict[str, Any] = {}  # the window's open: when, and the totals then

    def timed(phase: str, info: dict[str, int]) -> None:
        generation = info["generation"]
        if phase == "start":
            started[generation] = time.thread_time()
        elif generation in started:
            totals[generation][0] += 1
            totals[generation][1] += time.thread_time() - started.pop(generation)

    def open_window(*_: object) -> None:
        if not opened:
            opened.update(at=time.monotonic(), totals={g: list(v) for g, v in totals.items()})

    def close_window(*_: object) -> None:
        if not opened or Path(out).exists():
            return
        stats = {
            "seconds": time.monotonic() - opened["at"],
            "threshold": gc.get_threshold(),
            "by_generation": {
                g: {"collections": n - opened["totals"][g][0], "cpu_s": cpu - opened["totals"][g][1]}
                for g, (n, cpu) in totals.items()
            },
        }
        Path(out).write_text(json.dumps(stats))

    gc.callbacks.append(timed)
    signal.signal(signal.SIGUSR1, open_window)
    signal.signal(signal.SIGUSR2, close_window)
    serve(port)


if __name__ == "__main__":
    main()
