"""All of the check-ins' queries (tasks, submissions, reviews, labour stars).

Every write is an insert with a chosen ``_id`` (``common.store.insert_new``), the project's concurrency primitive
on FerretDB, where updates are read–modify–write and two concurrent ones can lose one: a submission's versions
(``<task>:<student>:<day>:v<n>``: two concurrent first submissions, or two answers to one redo, cannot both land),
one like per teacher (``<submission>:like:<teacher>``), one verdict per version (``<submission>:verdict``), one
award of labour stars per class and period (``<class>:<period>``), however many replicas compute it. Nothing is
updated in place. Each document carries its events (``common.outbox``) in the same insert.

Submissions, the busiest write of the service (every student, every school day), are written by group commit
(``common.group_insert``): the concurrent submissions of a replica go out together, as one outbox pointer and one
unordered ``insert_many``, each request answered for its own document (stored, or its version taken already).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from pymongo import ASCENDING, IndexModel

from classgroups.domain.checkins import submission_id
from classgroups.store.base import Collections
from common.contracts import EVENT_TYPES, Event
from common.contracts.classgroups import CheckinSubmitted
from common.group_insert import GroupInsert
from common.outbox import Outbox
from common.store import Store

TASKS, SUBMISSIONS, REVIEWS, STARS = "checkin_tasks", "checkin_submissions", "checkin_reviews", "labour_stars"


def declare(store: Store, outbox: Outbox) -> None:
    store.declare_indexes(TASKS, [IndexModel([("class_id", ASCENDING)])])
    store.declare_indexes(SUBMISSIONS, [IndexModel([("task_id", ASCENDING), ("student_id", ASCENDING)])])
    store.declare_indexes(REVIEWS, [IndexModel([("task_id", ASCENDING)])])
    store.declare_indexes(STARS, [IndexModel([("class_id", ASCENDING)])])
    for collection in (TASKS, REVIEWS, STARS):
        # a sweep reads only the entries: comments hold children's text
        outbox.source(collection, projection=())
    # A submission's event is its document: stored once, not twice (FerretDB's work per submission grows with the
    # values written: measured, 0.18 ms of its CPU per document with the event's copy, 0.09 without). A sweep reads
    # what the event needs, not the child's text.
    outbox.source(SUBMISSIONS, encode=submission_entry, decode=submission_event, projection=SUBMISSION_EVENT_FIELDS)


SUBMISSION_EVENT_FIELDS = (
    "task_id",
    "class_id",
    "student_id",
    "submitted_by",
    "day",
    "version",
    "timeliness",
    "media",
    "submitted_at",
)


def submission_entry(event: Event) -> dict[str, Any]:
    """What a submission's outbox entry holds of its event: nothing, the document says it all
    (``submission_event``); any other event whole."""
    return {} if isinstance(event, CheckinSubmitted) else event.model_dump(mode="json")


def submission_event(doc: dict[str, Any], entry: dict[str, Any]) -> Event:
    """The event a sweep publishes for a stored submission (the inverse of ``submission_entry``); an entry stored
    whole (written before events were derived from their documents) reads as it is."""
    if entry["type"] == CheckinSubmitted.TYPE and not entry["data"]:
        return CheckinSubmitted.model_validate(
            {"submission_id": doc["_id"], **{name: doc[name] for name in SUBMISSION_EVENT_FIELDS}}
        )
    return EVENT_TYPES[entry["type"]].model_validate(entry["data"])


class CheckinStore(Collections):
    # A task never changes once set (no route edits one), so a replica keeps those it has read: every submission
    # names its task, and each lookup would scan the tasks on FerretDB. A task not found is not remembered (another
    # replica may create it the next moment).
    _TASKS_KEPT = 20_000

    def __init__(
        self,
        db: Any,
        outbox: Outbox,
        *,
        submission_batch: int = 64,
        submission_linger: float = 0.0,
        submission_epoch: float = 0.0,
    ) -> None:
        super().__init__(db, outbox)
        self._tasks: dict[str, dict[str, Any]] = {}
        self._task_loads: dict[str, asyncio.Future[dict[str, Any] | None]] = {}
        self.submissions_writer = GroupInsert(
            outbox, SUBMISSIONS, max_batch=submission_batch, linger=submission_linger, epoch=submission_epoch
        )

    # --- tasks
    async def add_task(self, doc: dict[str, Any], event: Event) -> None:
        await self.insert_one(TASKS, doc, [event])

    async def task(self, task_id: str) -> dict[str, Any] | None:
        found = self._tasks.get(task_id)
        if found is not None:
            return found
        # Requests that miss together share one read: a task's first minutes bring many submissions at once, and
        # each read scans the tasks on FerretDB (the benchmark saw one in every 15 submissions read it).
        loading = self._task_loads.get(task_id)
        if loading is None:
            loading = self._task_loads[task_id] = asyncio.ensure_future(self._load_task(task_id))
        # shielded: a request that goes away (a client disconnecting) does not cancel the others' read
        return await asyncio.shield(loading)

    async def _load_task(self, task_id: str) -> dict[str, Any] | None:
        try:
            found = await self.db[TASKS].find_one({"_id": task_id}, {"outbox": 0})
        finally:
            del self._task_loads[task_id]
        if found is not None:
            if len(self._tasks) >= self._TASKS_KEPT:
                self._tasks.clear()
            self._tasks[task_id] = found
        return found

    async def tasks_of(self, class_id: str) -> list[dict[str, Any]]:
        return [d async for d in self.db[TASKS].find({"class_id": class_id}, {"outbox": 0}).sort("created_at", 1)]

    # --- submissions
    async def add_submission(self, doc: dict[str, Any], event: Event) -> bool:
        """Store a version of a day's check-in with its event, together with the other requests' of the moment;
        False (nothing written, no event) when that version exists already."""
        return await self.submissions_writer.insert(doc, [event])

    async def submission(self, submission_id: str) -> dict[str, Any] | None:
        return await self.db[SUBMISSIONS].find_one({"_id": submission_id}, {"outbox": 0})

    async def latest_version(self, task_id: str, student_id: str, day: str) -> int:
        """The day's latest version number (0: none), found by probing its ``_id``s from v1 up: an exact ``_id`` is
        the one filter FerretDB pushes down to SQLite, whereas a filter on fields decodes every document of the
        collection in Go (32 resubmissions at once on 14,000 check-ins took 39 s each that way). Versions are few:
        one more per redo a teacher asks."""
        version = 0
        while await self.db[SUBMISSIONS].find_one(
            {"_id": submission_id(task_id, student_id, day, version + 1)}, {"_id": 1}
        ):
            version += 1
        return version

    async def submissions(
        self, task_ids: Iterable[str], *, student_id: str | None = None, day: str | None = None
    ) -> list[dict[str, Any]]:
        """Every version of the tasks' submissions (of one student, of one day), oldest first."""
        query: dict[str, Any] = {"task_id": {"$in": list(task_ids)}}
        if student_id is not None:
            query["student_id"] = student_id
        if day is not None:
            query["day"] = day
        found = [d async for d in self.db[SUBMISSIONS].find(query, {"outbox": 0})]
        return sorted(found, key=lambda d: (d["day"], d["student_id"], d["version"]))

    # --- reviews
    async def add_review(self, doc: dict[str, Any], event: Event) -> bool:
        return await self.insert_one(REVIEWS, doc, [event])

    async def reviews(self, task_ids: Iterable[str]) -> list[dict[str, Any]]:
        found = [d async for d in self.db[REVIEWS].find({"task_id": {"$in": list(task_ids)}}, {"outbox": 0})]
        return sorted(found, key=lambda d: d["at"])

    # --- labour stars
    async def award(self, doc: dict[str, Any], events: list[Event]) -> bool:
        """The class's stars for a period, once: False when they were awarded already (by another request or
        replica)."""
        return await self.insert_one(STARS, doc, events)

    async def awards(self, class_id: str) -> list[dict[str, Any]]:
        found = [d async for d in self.db[STARS].find({"class_id": class_id}, {"outbox": 0})]
        return sorted(found, key=lambda d: d["awarded_at"], reverse=True)

    async def award_of(self, class_id: str, period: str) -> dict[str, Any] | None:
        return await self.db[STARS].find_one({"_id": f"{class_id}:{period}"}, {"outbox": 0})

    async def labour_classes(self) -> list[str]:
        """Classes with a labour-education task (the periodic award looks at these)."""
        return sorted({d["class_id"] async for d in self.db[TASKS].find({"labour": True}, {"class_id": 1})})
