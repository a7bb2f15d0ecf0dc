"""The aggregator's per-record Python alone: CPU time of ``domain.partition.ingest`` on 100,000 in-memory rows as
aiokafka hands them over (the collector's records: peak-density times, Zipf over 20k resources, 2 % retries), in
batches of 5,000, seven times; prints the minimum and median nanoseconds per record. CPU time (``process_time``),
not wall time, so a loaded machine changes it less. Pass another tree's root to measure its code on the same rows
(an A/B in one sitting); ``--python`` measures the pure-Python reader of a tree that has the compiled one:

    .cache/pyenv/bin/python bench/viewstats/bench_ingest.py [ROOT] [--python]
"""

import gc
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ARGS = [a for a in sys.argv[1:] if a != "--python"]
ROOT = Path(ARGS[0] if ARGS else Path(__file__).resolve().parents[2])
sys.path[:0] = [str(ROOT / "libs"), str(ROOT / "services"), str(ROOT)]

from deploy.local.traffic import TrafficGenerator  # noqa: E402
from viewstats.domain import partition  # noqa: E402
from viewstats.domain.beacon import parse_beacon  # noqa: E402
from viewstats.domain.counters import DedupWindow  # noqa: E402
from viewstats.domain.partition import PartitionState  # noqa: E402
from viewstats.wire import view_record  # noqa: E402

N, BATCH, RUNS = 100_000, 5_000, 7


def rows() -> list[tuple]:
    gen = TrafficGenerator(resources=20_000, visitors=2_000_000, duplicate_share=0.02, seed=42)
    now = int(time.time() * 1000)
    out = []
    for i, item in enumerate(gen.day(datetime.now(UTC).date(), N)):
        _key, value, headers = view_record(parse_beacon(item | {"time": now - 300_000 + (i * 300_000) // N}, now))
        out.append((i, tuple(headers), value, None))  # aiokafka's headers are a tuple of (name, bytes)
    return out


def main() -> None:
    python = "--python" in sys.argv
    ingest = partition.ingest_python if python else partition.ingest
    reader = "python" if python else getattr(partition, "READER", "python")
    records = rows()
    times = []
    for _ in range(RUNS):
        state = PartitionState(0, 0, DedupWindow(200_000))
        gc.disable()  # as the aggregator's loop does while it ingests a fetch
        started = time.process_time()
        for at in range(0, len(records), BATCH):
            ingest(state, records[at : at + BATCH])
        times.append(time.process_time() - started)
        gc.enable()
    per = [t * 1e9 / len(records) for t in times]
    summary = f"ns/record min {min(per):.0f}, median {statistics.median(per):.0f}"
    print(f"{ROOT} ({reader} reader): {len(records)} records, {len(state.pending)} queued; {summary}")


if __name__ == "__main__":
    main()
