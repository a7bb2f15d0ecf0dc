"""The standalone aggregator (``viewstats.aggregator.standalone``) with crash points, for the exactness tests:
``python -m tests.integration.viewstats.crashing_aggregator`` with ``CRASH_AT=<point>:<k>`` dies by SIGKILL the
(k+1)-th time the flush reaches ``point``:

- ``write``: right after one partition's shards of a flush are written (the others are not);
- ``commit``: after every write of a flush, before its offsets are committed.
"""

import asyncio
import logging
import os
import signal

from viewstats.aggregator import Aggregator
from viewstats.aggregator.flush import Flusher
from viewstats.aggregator.standalone import main
from viewstats.domain.partition import PartitionState

log = logging.getLogger("viewstats.aggregator")
POINT, _, AFTER = os.environ.get("CRASH_AT", "").partition(":")
reached = {"write": 0, "commit": 0}


def crash_point(point: str) -> None:
    if point == POINT:
        reached[point] += 1
        if reached[point] > int(AFTER or 0):
            log.warning("crash point %s reached: SIGKILL", point)
            os.kill(os.getpid(), signal.SIGKILL)


class CrashingFlusher(Flusher):
    async def write(self, state: PartitionState, position: int, n: int, sketch_groups: set[tuple[str, str]]) -> None:
        try:
            await super().write(state, position, n, sketch_groups)
        finally:
            crash_point("write")

    async def commit(self, offsets: dict[int, int]) -> None:
        crash_point("commit")
        await super().commit(offsets)


class CrashingAggregator(Aggregator):
    flusher_type = CrashingFlusher


if __name__ == "__main__":
    asyncio.run(main(CrashingAggregator))
