"""All of the after-school courses' queries. As in check-ins, every write is an insert with a chosen ``_id``:
a course, one operation document per applied request (``<course>:<partition>:<offset>``, so a replayed request
finds its outcome there), and the slot claims that keep one student out of two overlapping courses
(``<term>:<student>:<weekday>:<10-minute cell>``: two course writers racing for the same student's Tuesday 16:00
cannot both insert it)."""

from __future__ import annotations

from typing import Any

from pymongo import ASCENDING, IndexModel

from classgroups.store.base import Collections
from common.contracts import Event
from common.outbox import Outbox
from common.store import Store, insert_new

COURSES, OPS, CLAIMS = "courses", "course_ops", "course_claims"


def declare(store: Store, outbox: Outbox) -> None:
    store.declare_indexes(COURSES, [IndexModel([("school_id", ASCENDING), ("term", ASCENDING)])])
    store.declare_indexes(
        OPS,
        [
            IndexModel([("course_id", ASCENDING)]),
            IndexModel([("request_id", ASCENDING)]),
            IndexModel([("student_id", ASCENDING)]),
        ],
    )
    store.declare_indexes(CLAIMS, [IndexModel([("student_id", ASCENDING)])])
    for collection in (COURSES, OPS):
        outbox.source(collection, projection=())


class CourseStore(Collections):
    async def add_course(self, doc: dict[str, Any], event: Event) -> None:
        await self.insert_one(COURSES, doc, [event])

    async def course(self, course_id: str) -> dict[str, Any] | None:
        return await self.db[COURSES].find_one({"_id": course_id}, {"outbox": 0})

    async def courses(self, school_id: str, term: str | None) -> list[dict[str, Any]]:
        query: dict[str, Any] = {"school_id": school_id}
        if term:
            query["term"] = term
        return [d async for d in self.db[COURSES].find(query, {"outbox": 0}).sort("published_at", 1)]

    async def ops(self, course_id: str) -> list[dict[str, Any]]:
        """The course's applied requests in partition order (their ``_id`` is zero-padded partition and offset)."""
        found = [d async for d in self.db[OPS].find({"course_id": course_id}, {"outbox": 0})]
        return sorted(found, key=lambda d: d["_id"])

    async def add_op(self, doc: dict[str, Any], events: list[Event]) -> bool:
        """False: this request was applied already (a replay, or a zombie writer)."""
        return await self.insert_one(OPS, doc, events)

    async def op_of_request(self, request_id: str) -> dict[str, Any] | None:
        return await self.db[OPS].find_one({"request_id": request_id}, {"outbox": 0})

    async def claim(self, docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Insert the slot claims; returns the claims already held (by this course on a replay, or another)."""
        taken = await insert_new(self.db[CLAIMS], docs)
        if not taken:
            return []
        ids = [docs[i]["_id"] for i in taken]
        return [d async for d in self.db[CLAIMS].find({"_id": {"$in": ids}})]

    async def release(self, claim_ids: list[str]) -> None:
        if claim_ids:
            await self.db[CLAIMS].delete_many({"_id": {"$in": claim_ids}})

    async def places_of(self, student_id: str) -> list[dict[str, Any]]:
        """Every operation about a student (the term's courses they asked for)."""
        return [d async for d in self.db[OPS].find({"student_id": student_id}, {"outbox": 0})]
