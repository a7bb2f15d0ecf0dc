"""All of the recommender's queries. Documents are keyed by resource id, the only lookup FerretDB serves
without a scan; writes are bulk."""

from __future__ import annotations

from pymongo import DeleteOne, ReplaceOne
from pymongo.asynchronous.database import AsyncDatabase

from recommender.domain.candidates import Candidate


class CandidateStore:
    def __init__(self, db: AsyncDatabase) -> None:
        self.collection = db["candidates"]

    async def apply(self, upserts: dict[str, Candidate], removals: set[str]) -> None:
        ops: list[ReplaceOne | DeleteOne] = [
            ReplaceOne({"_id": rid}, {"_id": rid, **c.model_dump(exclude={"resource_id"})}, upsert=True)
            for rid, c in upserts.items()
        ]
        ops += [DeleteOne({"_id": rid}) for rid in removals]
        if ops:
            await self.collection.bulk_write(ops, ordered=False)

    async def get(self, resource_id: str) -> Candidate | None:
        doc = await self.collection.find_one({"_id": resource_id})
        if doc is None:
            return None
        return Candidate(resource_id=doc.pop("_id"), **doc)
