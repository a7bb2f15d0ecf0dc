"""The only code that touches viewstats' database. Every read is by ``_id``; every write is a bulk write.

Collections: ``counts_m``/``counts_h``/``counts_d`` (counter shard documents by granularity, see
:mod:`viewstats.domain.counters`), ``uniques`` (HLL sketches ``u:<day>:<kind>:p<nn>`` → ``s.<value>``),
``learning`` (course progress and credits), ``certificates``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from bson import Binary
from pymongo import UpdateOne
from pymongo.asynchronous.database import AsyncDatabase

from viewstats.domain.counters import shard_id

COLLECTION = {"m": "counts_m", "h": "counts_h", "d": "counts_d"}


def _coll(key: str) -> str:
    return COLLECTION[key[0]]


class ViewStore:
    def __init__(self, db: AsyncDatabase) -> None:
        self.db = db

    # --- the aggregator's writes (single writer per partition) -------------------------------------------
    async def applied_offsets(self, ids: Iterable[str]) -> dict[str, int]:
        """``o`` of existing counter shard documents (absent documents are not in the answer)."""
        by_coll: dict[str, list[str]] = {}
        for i in ids:
            by_coll.setdefault(_coll(i), []).append(i)
        out: dict[str, int] = {}
        for coll, batch in by_coll.items():
            async for doc in self.db[coll].find({"_id": {"$in": batch}}, {"o": 1}):
                out[doc["_id"]] = doc.get("o", -1)
        return out

    async def apply(
        self, partition: int, offset: int, counts: dict[str, Counter[str]], sketches: dict[tuple[str, str], bytes]
    ) -> None:
        """One update per counter shard: ``$inc`` the counts and ``$max`` the applied offset together, so a
        document is either wholly before or wholly after this flush (one document's update is atomic)."""
        by_coll: dict[str, list[UpdateOne]] = {}
        for key, counter in counts.items():
            if not counter:
                continue
            update = {"$inc": {f"c.{v}": n for v, n in counter.items()}, "$max": {"o": offset}}
            by_coll.setdefault(_coll(key), []).append(UpdateOne({"_id": shard_id(key, partition)}, update, upsert=True))
        sets: dict[str, dict[str, Any]] = {}
        for (day, scope), blob in sketches.items():
            kind, _, value = scope.partition(":")
            sets.setdefault(shard_id(f"u:{day}:{kind}", partition), {})[f"s.{value or 'all'}"] = Binary(blob)
        if sets:
            by_coll["uniques"] = [UpdateOne({"_id": i}, {"$set": s}, upsert=True) for i, s in sets.items()]
        for coll, ops in by_coll.items():
            await self.db[coll].bulk_write(ops, ordered=False)

    async def load_sketches(self, partition: int, days: Iterable[str]) -> list[tuple[str, str, bytes]]:
        ids = [shard_id(f"u:{d}:{k}", partition) for d in days for k in ("all", "prov", "res")]
        out = []
        async for doc in self.db.uniques.find({"_id": {"$in": ids}}):
            _, day, kind, _p = doc["_id"].split(":")
            for value, blob in doc.get("s", {}).items():
                out.append((day, "all" if kind == "all" else f"{kind}:{value}", bytes(blob)))
        return out

    # --- queries -----------------------------------------------------------------------------------------
    async def counts(
        self, granularity: str, buckets: list[str], dimension: str, partitions: int
    ) -> dict[str, Counter[str]]:
        """bucket → value → count, summed over the partition shards."""
        ids = [shard_id(f"{granularity}:{b}:{dimension}", p) for b in buckets for p in range(partitions)]
        out: dict[str, Counter[str]] = {b: Counter() for b in buckets}
        for i in range(0, len(ids), 2000):
            async for doc in self.db[COLLECTION[granularity]].find({"_id": {"$in": ids[i : i + 2000]}}, {"c": 1}):
                bucket = doc["_id"][2:].rsplit(":", 2)[0]
                out[bucket].update(doc.get("c", {}))
        return out

    async def sketches(self, day: str, kind: str, value: str, partitions: int) -> list[bytes]:
        ids = [shard_id(f"u:{day}:{kind}", p) for p in range(partitions)]
        out = []
        async for doc in self.db.uniques.find({"_id": {"$in": ids}}, {f"s.{value}": 1}):
            blob = doc.get("s", {}).get(value)
            if blob is not None:
                out.append(bytes(blob))
        return out
