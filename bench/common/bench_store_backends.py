"""Point-operation latency of the store by collection size, to compare FerretDB's backends (SQLite vs PostgreSQL).

    MONGODB_URL=mongodb://127.0.0.1:57017 .cache/pyenv/bin/python bench/common/bench_store_backends.py [label]

For 1,000 / 10,000 / 30,000 small documents (string ``_id``): median of 50 ``update_one({_id}, {$inc})`` and of
50 ``find_one({_id})``, ids spread over the whole collection, in random order, after a few warm-up calls.
Prints one JSON line per size and operation. Uses (and drops) the database ``bench_store_backends``.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import sys
import time

from pymongo import MongoClient

SIZES = (1_000, 10_000, 30_000)
SAMPLES = 50


def timed(fn, ids: list[str]) -> list[float]:
    out = []
    for x in ids:
        t = time.perf_counter()
        fn(x)
        out.append((time.perf_counter() - t) * 1000)
    return out


def main() -> None:
    label = sys.argv[1] if len(sys.argv) > 1 else ""
    client = MongoClient(os.environ.get("MONGODB_URL", "mongodb://127.0.0.1:27017"))
    client.drop_database("bench_store_backends")
    col = client.bench_store_backends.docs
    rnd = random.Random(7)
    for size in SIZES:
        col.drop()
        t = time.perf_counter()
        for start in range(0, size, 1_000):
            col.insert_many([{"_id": f"d{i:06d}", "n": 0, "s": "x" * 40} for i in range(start, start + 1_000)])
        insert_s = time.perf_counter() - t
        ids = [f"d{int((k + 0.5) * size / SAMPLES):06d}" for k in range(SAMPLES)]
        rnd.shuffle(ids)
        ops = {
            "update_one_inc": lambda x: col.update_one({"_id": x}, {"$inc": {"n": 1}}),
            "find_one": lambda x: col.find_one({"_id": x}),
        }
        for op, fn in ops.items():
            timed(fn, ids[:5])  # warm-up
            ms = timed(fn, ids)
            row = {"label": label, "docs": size, "op": op, "median_ms": round(statistics.median(ms), 3)}
            row |= {"min_ms": round(min(ms), 3), "max_ms": round(max(ms), 3), "insert_s": round(insert_s, 2)}
            print(json.dumps(row), flush=True)
    client.drop_database("bench_store_backends")


if __name__ == "__main__":
    main()
