"""The service under cProfile, one uvicorn process (``bench_classgroups.py --profile PATH``): the stats are written
when uvicorn returns (SIGTERM), which ``python -m cProfile`` does not do for a process that exits by a signal."""

from __future__ import annotations

import cProfile
import signal
import sys
import time

import uvicorn


def main() -> None:
    port, out = int(sys.argv[1]), sys.argv[2]
    # CPU time of the thread (the event loop's), not wall time: on a saturated machine a preempted call would
    # otherwise look expensive (a socket write that wakes FerretDB, say)
    profile = cProfile.Profile(time.thread_time)
    # uvicorn re-raises the SIGTERM it caught once it has shut down, under the handler it found: a no-op one lets
    # ``uvicorn.run`` return, so that the stats are written
    signal.signal(signal.SIGTERM, lambda *_: None)
    profile.enable()
    try:
        uvicorn.run("classgroups.app:create_app", factory=True, port=port, log_level="warning", access_log=False)
    finally:
        profile.disable()
        profile.dump_stats(out)


if __name__ == "__main__":
    main()
