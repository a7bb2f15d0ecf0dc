"""The class cache's expiry, isolated. When a class's entry expired, every roster request in flight (32 with
``wrk -c32``) missed at once and loaded the class and its memberships itself: how long 1 and 32 concurrent loads
take on this FerretDB, and 32 requests sharing one load (``Cache.get_or_load``). On the 60-student class of a
bench run's database (``bench_*_classgroups``) in ``MONGODB_URL``:

    MONGODB_URL=mongodb://127.0.0.1:$LOCAL_MONGO_PORT .cache/pyenv/bin/python bench/classgroups/cache_herd.py
"""

import asyncio
import json
import os
import sys
import time
from pathlib import Path

from pymongo import AsyncMongoClient

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "libs"), str(ROOT / "services")]
from classgroups.store.cache import Cache  # noqa: E402


async def main() -> None:
    client = AsyncMongoClient(os.environ["MONGODB_URL"])
    names = [n for n in await client.list_database_names() if n.startswith("bench_") and n.endswith("classgroups")]
    db = client[names[-1]]
    cid = (await db["classes"].find_one({"grade": 7}))["_id"]

    async def load() -> tuple:
        doc = await db["classes"].find_one({"_id": cid})
        return doc, [d async for d in db["members"].find({"class_id": cid})]

    out = {
        "db": db.name,
        "members_docs": await db["members"].count_documents({}),
        "class_members": len((await load())[1]),
    }
    for n in (1, 32):
        t = time.perf_counter()
        await asyncio.gather(*[load() for _ in range(n)])
        out[f"{n}_concurrent_loads_ms"] = round((time.perf_counter() - t) * 1000, 1)
    cache: Cache[tuple] = Cache(30)
    t = time.perf_counter()
    await asyncio.gather(*[cache.get_or_load(cid, load) for _ in range(32)])
    out["32_requests_one_shared_load_ms"] = round((time.perf_counter() - t) * 1000, 1)
    out["loads"] = cache.loads
    print(json.dumps(out))
    await client.close()


asyncio.run(main())
