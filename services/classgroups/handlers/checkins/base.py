"""What every check-in handler shares: object-level access through the class's membership
(``classgroups.access``: a stranger to the class learns 404, another relation 403), the task, the media keys' prefix,
who has done which day."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from classgroups import access as rel
from classgroups.access import Caller, ClassAccess, Standing
from classgroups.domain.checkins import DayRecord, Evidence, Schedule, Task
from classgroups.domain.media import MediaLimits
from classgroups.media import ObjectStore
from classgroups.store import CheckinStore
from common.errors import Forbidden, NotFound

TEACHERS = frozenset({rel.HEAD, rel.TEACHER, rel.OWNER})
READERS = rel.ANYONE_IN  # teachers, admins covering the school, students, guardians of students
SUBMITTERS = frozenset({rel.MEMBER, rel.GUARDIAN})


@dataclass(frozen=True)
class UploadSettings:
    limits: MediaLimits
    expires_seconds: int
    view_seconds: int


def task_of(doc: dict[str, Any]) -> Task:
    s = doc["schedule"]
    return Task(
        doc["_id"],
        doc["class_id"],
        doc["title"],
        Schedule(
            s["kind"],
            date.fromisoformat(s["starts_on"]),
            date.fromisoformat(s["ends_on"]),
            tuple(date.fromisoformat(d) for d in s["dates"]),
        ),
        Evidence(**doc["evidence"]),
        doc["late_days"],
        doc["labour"],
        doc.get("resource_id"),
    )


def latest_versions(versions: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    """(student, day) → the latest version (``versions`` oldest first)."""
    return {(v["student_id"], v["day"]): v for v in versions}


def verdicts_of(reviews: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["submission_id"]: r for r in reviews if r["action"] in ("excellent", "redo")}


class CheckinHandler:
    """The check-in handlers' shared parts (a subclass per group of commands and queries)."""

    def __init__(self, store: CheckinStore, access: ClassAccess, objects: ObjectStore, uploads: UploadSettings) -> None:
        self.store, self.access, self.objects, self.uploads = store, access, objects, uploads
        self.classes = access.store

    async def _children_in(self, class_id: str, parent: str) -> list[str]:
        out = []
        for child in await self.classes.directory.children_of(parent):
            m = await self.classes.classes.membership(class_id, child)
            if m is not None and m.status == "active":
                out.append(child)
        return out

    async def _students(self, class_id: str) -> list[str]:
        return [m.account_id for m in await self.classes.classes.members(class_id)]

    async def _visible_students(self, standing: Standing, caller: Caller) -> set[str] | None:
        """Whose check-ins the caller may see: None for all (teachers, admins), else themself or their children."""
        if standing.relations & (TEACHERS | {rel.ADMIN}):
            return None
        if rel.MEMBER in standing.relations:
            return {caller.id}
        return set(await self._children_in(standing.cls.id, caller.id))

    async def _for_student(self, caller: Caller, class_id: str, student_id: str | None) -> str:
        """The student a caller acts for: themself, or a child of theirs in the class (a parent submitting for a
        young child). Teachers check in for no one."""
        standing = await self.access.require(caller, class_id, SUBMITTERS)
        if rel.MEMBER in standing.relations and student_id in (None, caller.id):
            return caller.id
        children = await self._children_in(class_id, caller.id)
        if student_id is None and len(children) == 1:
            return children[0]
        if student_id in children:
            return student_id
        raise Forbidden("you may check in only for yourself or your own child", code="not_your_student")

    async def _task(self, class_id: str, task_id: str) -> Task:
        doc = await self.store.task(task_id)
        if doc is None or doc["class_id"] != class_id:
            raise NotFound("no such check-in task in this class", code="task_not_found")
        return task_of(doc)

    def _prefix(self, task: Task, student_id: str) -> str:
        # Account ids only (no names): the key says whose check-in it is, so a submission can only name objects
        # uploaded for its own student and task.
        return f"checkins/{task.class_id}/{task.task_id}/{student_id}/"

    async def _done(self, task: Task) -> tuple[dict[str, set[date]], dict[str, dict[date, DayRecord]]]:
        versions = await self.store.submissions([task.task_id])
        verdicts = verdicts_of(await self.store.reviews([task.task_id]))
        done: dict[str, set[date]] = defaultdict(set)
        records: dict[str, dict[date, DayRecord]] = defaultdict(dict)
        for (student, day), v in latest_versions(versions).items():
            d = date.fromisoformat(day)
            done[student].add(d)
            verdict = verdicts.get(v["_id"])
            records[student][d] = DayRecord(d, v["timeliness"], verdict["action"] if verdict else None)
        return done, records


def utcnow() -> datetime:
    return datetime.now(UTC)
