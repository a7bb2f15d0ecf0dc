"""The service under cProfile, one uvicorn process (``bench_classgroups.py --profile PATH``): the stats are written
when uvicorn returns (SIGTERM), which ``python -m cProfile`` does not do for a process that exits by a signal.

The profile covers only the first submissions round's middle half: the benchmark sends SIGUSR1 when that window
opens and SIGUSR2 when it closes (start-up, the directory's replay of identity's users and the setup stay out).
It measures the event loop thread's CPU time, not wall time: on a saturated machine a preempted call would
otherwise look expensive (a socket write that wakes FerretDB, say). Profiling slows every call: compare shares,
not microseconds, with an unprofiled run."""

from __future__ import annotations

import cProfile
import signal
import sys
import time

from bench.classgroups.serve import serve


def main() -> None:
    port, out = int(sys.argv[1]), sys.argv[2]
    profile = cProfile.Profile(time.thread_time)
    profiled = False

    def start(*_: object) -> None:
        nonlocal profiled
        if not profiled:
            profiled = True
            profile.enable()

    signal.signal(signal.SIGUSR1, start)
    signal.signal(signal.SIGUSR2, lambda *_: profile.disable())
    # uvicorn re-raises the SIGTERM it caught once it has shut down, under the handler it found: a no-op one lets
    # ``uvicorn.run`` return, so that the stats are written
    signal.signal(signal.SIGTERM, lambda *_: None)
    try:
        serve(port)
    finally:
        profile.disable()
        profile.dump_stats(out)


if __name__ == "__main__":
    main()
