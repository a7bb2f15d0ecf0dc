"""The catalog's exercise versions. Every change appends a version document (``_id = "<exercise id>~<version:06d>"``,
the snapshot, its state and the events it raised: an outbox source); the unique ``_id`` of the insert is the
concurrency check (two editors of version N+1: one wins, the other gets a conflict). Never updated in place.
Kept out of ``store.py`` while the catalog's store is being restructured (issue 14); it is the only code that
touches this collection."""

from __future__ import annotations

from typing import Any

from pymongo import IndexModel
from pymongo.asynchronous.database import AsyncDatabase

from common.outbox import Change, Outbox
from common.store import Store, insert_new

EXERCISES = "exercises"


def version_id(eid: str, version: int) -> str:
    return f"{eid}~{version:06d}"


class VersionTaken(Exception):
    """Another writer appended this version first (nothing of ours was written)."""


class ExerciseStore:
    def __init__(self, db: AsyncDatabase) -> None:
        self.collection = db[EXERCISES]

    @staticmethod
    def declare(store: Store, outbox: Outbox) -> None:
        # On MongoDB the latest version is an index lookup; FerretDB scans (exercises are few next to resources).
        store.declare_indexes(EXERCISES, [IndexModel([("exercise_id", 1), ("version", -1)])])
        outbox.source(EXERCISES, field="events", projection=())

    async def latest(self, eid: str) -> dict[str, Any] | None:
        cursor = self.collection.find({"exercise_id": eid}, {"events": 0}).sort("version", -1).limit(1)
        async for doc in cursor:
            return doc
        return None

    async def append(self, eid: str, version: int, state: str, snap: dict[str, Any], change: Change) -> None:
        """Insert the version carrying ``change``'s events; :class:`VersionTaken` when another writer was first."""
        vid = version_id(eid, version)
        doc = {
            "_id": vid,
            "exercise_id": eid,
            "version": version,
            "state": state,
            "snapshot": snap,
            "events": change.entries(vid),
        }
        if await insert_new(self.collection, [doc]):
            raise VersionTaken(vid)
