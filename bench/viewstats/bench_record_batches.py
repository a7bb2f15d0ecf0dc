"""From fetched bytes to queued views, in process: CPU time per record of the aggregator's two ways to read a
fetched message set (the collector's records: peak-density times, Zipf over 20k resources, 2 % retries, in lz4
record batches of 256 KiB as the collector writes them, fetches of 4 MiB as the aggregator asks):

- ``records``: aiokafka's ``MemoryRecords`` and its C records, a row per record (``clients._row_or_record``), then
  ``ingest`` of the rows (the aggregator before session 15);
- ``batches``: ``split_batches`` of the same bytes, then ``ingest`` of the record batches, read in place.

Alternating, seven rounds each; prints the median and minimum nanoseconds per record and their ratio:

    .cache/pyenv/bin/python bench/viewstats/bench_record_batches.py [--records 200000] [--codec lz4|none]
"""

import argparse
import gc
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "libs"), str(ROOT / "services"), str(ROOT)]

from aiokafka.record.default_records import DefaultRecordBatchBuilder  # noqa: E402
from aiokafka.record.memory_records import MemoryRecords  # noqa: E402

from deploy.local.traffic import TrafficGenerator  # noqa: E402
from viewstats.domain.beacon import parse_beacon  # noqa: E402
from viewstats.domain.counters import DedupWindow  # noqa: E402
from viewstats.domain.partition import READER, PartitionState, ingest  # noqa: E402
from viewstats.wire import view_record  # noqa: E402

CODECS = {"none": 0, "lz4": 3}
BATCH_BYTES, FETCH_BYTES = 256 * 1024, 4 * 1024 * 1024


def fetches(n: int, codec: int) -> tuple[list[bytes], int]:
    """The records as the broker hands them out: message sets of whole batches, ≤ 4 MiB each."""
    gen = TrafficGenerator(resources=20_000, visitors=2_000_000, duplicate_share=0.02, seed=42)
    now = int(time.time() * 1000)
    sets, current, offset = [], bytearray(), 0
    builder = None
    for i, item in enumerate(gen.day(datetime.now(UTC).date(), n)):
        key, value, headers = view_record(parse_beacon(item | {"time": now - 300_000 + (i * 300_000) // n}, now))
        if builder is None:
            builder, base = DefaultRecordBatchBuilder(2, codec, 0, -1, -1, -1, BATCH_BYTES), offset
        if builder.append(offset - base, timestamp=now, key=key, value=value, headers=headers) is None:
            current, sets = _close(builder, base, current, sets)
            builder, base = DefaultRecordBatchBuilder(2, codec, 0, -1, -1, -1, BATCH_BYTES), offset
            builder.append(0, timestamp=now, key=key, value=value, headers=headers)
        offset += 1
    current, sets = _close(builder, base, current, sets)
    return [*sets, bytes(current)], offset  # the generator's retries come on top of n


def _close(builder, base: int, current: bytearray, sets: list) -> tuple[bytearray, list]:
    batch = builder.build()
    batch[0:8] = base.to_bytes(8, "big")
    if len(current) + len(batch) > FETCH_BYTES:
        sets.append(bytes(current))
        current = bytearray()
    current += batch
    return current, sets


def by_records(raw: bytes) -> list:
    rows, records = [], MemoryRecords(raw)
    while records.has_next():
        for r in records.next_batch():
            rows.append((r.offset, r.headers, r.value, r))
    return rows


def run(way: str, sets: list[bytes], n: int) -> float:
    from viewstats.domain._reader import split_batches

    state = PartitionState(0, 0, DedupWindow(200_000))
    gc.disable()  # as the aggregator's loop does while it ingests a fetch
    started = time.process_time()
    for raw in sets:
        ingest(state, by_records(raw) if way == "records" else split_batches(raw, True))
    spent = time.process_time() - started
    gc.enable()
    assert state.position == n - 1, (way, state.position, n)
    return spent * 1e9 / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--codec", choices=CODECS, default="lz4")
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    assert READER == "compiled", "the compiled reader is not built: make python"
    sets, n = fetches(args.records, CODECS[args.codec])
    per: dict[str, list[float]] = {"records": [], "batches": []}
    for _ in range(args.rounds):
        for way in per:
            per[way].append(run(way, sets, n))
    medians = {way: statistics.median(v) for way, v in per.items()}
    for way, v in per.items():
        print(f"{way:8} ns/record median {medians[way]:.0f}, min {min(v):.0f}  ({', '.join(f'{x:.0f}' for x in v)})")
    print(
        f"{n} records, {args.codec}, {len(sets)} fetches; records/batches = "
        f"{medians['records'] / medians['batches']:.2f}"
    )


if __name__ == "__main__":
    main()
