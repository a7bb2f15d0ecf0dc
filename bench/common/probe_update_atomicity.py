"""Are concurrent updates of one document atomic on this store? (FerretDB: no; MongoDB: yes.)

    MONGODB_URL=mongodb://127.0.0.1:37017 .cache/pyenv/bin/python bench/common/probe_update_atomicity.py

Per trial, 40 concurrent updates of one document: ``$addToSet`` of 40 distinct values (how many were lost),
``$inc`` by 1 (the final count), and ``update_one({_id, v: 0}, {$set: {v: 1}})``, a version in the filter (how many
reported a modification: 1 on an atomic store). Prints one JSON line per kind with the results of 5 trials. Uses
(and drops) the database ``probe_update_atomicity``. Results on FerretDB 1.24 (SQLite) are in
services/identity/README.md ("What is atomic, and why").
"""

from __future__ import annotations

import asyncio
import json
import os

from pymongo import AsyncMongoClient

CONCURRENCY = 40
TRIALS = 5


async def main() -> None:
    client = AsyncMongoClient(os.environ.get("MONGODB_URL", "mongodb://127.0.0.1:27017"))
    docs = client["probe_update_atomicity"]["docs"]
    results: dict[str, list[int]] = {"addToSet_lost": [], "inc_final": [], "versioned_winners": []}
    for _ in range(TRIALS):
        await docs.replace_one({"_id": "d"}, {"_id": "d", "tags": [], "n": 0, "v": 0}, upsert=True)
        await asyncio.gather(*[docs.update_one({"_id": "d"}, {"$addToSet": {"tags": i}}) for i in range(CONCURRENCY)])
        await asyncio.gather(*[docs.update_one({"_id": "d"}, {"$inc": {"n": 1}}) for _ in range(CONCURRENCY)])
        won = await asyncio.gather(
            *[docs.update_one({"_id": "d", "v": 0}, {"$set": {"v": 1, "by": i}}) for i in range(CONCURRENCY)]
        )
        doc = await docs.find_one({"_id": "d"})
        results["addToSet_lost"].append(CONCURRENCY - len(doc["tags"]))
        results["inc_final"].append(doc["n"])
        results["versioned_winners"].append(sum(r.modified_count for r in won))
    await client.drop_database("probe_update_atomicity")
    await client.close()
    for kind, values in results.items():
        print(json.dumps({"kind": kind, "concurrency": CONCURRENCY, "trials": values}))


if __name__ == "__main__":
    asyncio.run(main())
