"""All of the recommender's queries. Documents are keyed by resource id. Writes are bulk, and inserts come first:
an insert with a unique ``_id`` is atomic and, on FerretDB's SQLite backend, the only write that does not scan
the collection (its ``_id`` filter is not served by the ``_id`` index, so every update or lookup reads the whole
table). Replays therefore cost one scan per batch, not one per document."""

from __future__ import annotations

from pymongo import DeleteOne, ReplaceOne
from pymongo.asynchronous.database import AsyncDatabase

from common.store import bulk_write, insert_new
from recommender.domain.candidates import Candidate


class CandidateStore:
    def __init__(self, db: AsyncDatabase) -> None:
        self.collection = db["candidates"]

    async def apply(self, upserts: dict[str, Candidate], removals: set[str]) -> None:
        """Make the pool hold ``upserts`` and lack ``removals``; applying the same change twice is harmless."""
        if upserts:
            docs = [{"_id": rid, **c.model_dump(exclude={"resource_id"})} for rid, c in upserts.items()]
            present = await insert_new(self.collection, docs)
            if present:
                await self._replace_changed([docs[i] for i in present])
        if removals:
            await bulk_write(self.collection, [DeleteOne({"_id": rid}) for rid in removals])

    async def _replace_changed(self, docs: list[dict]) -> None:
        """Documents already present: a replay after a crash (same content, nothing to write) or a new
        version of a resource (replaced)."""
        stored = {d["_id"]: d async for d in self.collection.find({"_id": {"$in": [d["_id"] for d in docs]}})}
        changed = [ReplaceOne({"_id": d["_id"]}, d) for d in docs if stored.get(d["_id"]) != d]
        if changed:
            await bulk_write(self.collection, changed)

    async def get(self, resource_id: str) -> Candidate | None:
        doc = await self.collection.find_one({"_id": resource_id})
        if doc is None:
            return None
        return Candidate(resource_id=doc.pop("_id"), **doc)
