"""The check-in service: who may do what to which class's tasks (object-level access through the class's
membership), the rules of ``domain.checkins`` and ``domain.media``, the store, the object store."""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from classgroups import access as rel
from classgroups.access import Caller, ClassAccess, Standing
from classgroups.checkins_store import CheckinStore
from classgroups.domain.checkins import (
    DayRecord,
    Evidence,
    Period,
    Schedule,
    Task,
    beijing_day,
    day_states,
    labour_stars,
    leaderboard,
    stars_ready,
    streaks,
)
from classgroups.domain.media import MediaKind, MediaLimits, check_stored, check_upload_request
from classgroups.media import ObjectStore
from common.contracts.classgroups import (
    CheckinMedia,
    CheckinReviewed,
    CheckinSubmitted,
    CheckinTaskCreated,
    LabourStar,
    LabourStarsAwarded,
)
from common.errors import Conflict, Forbidden, Invalid, NotFound

log = logging.getLogger("classgroups.checkins")

TEACHERS = frozenset({rel.HEAD, rel.TEACHER, rel.OWNER})
READERS = rel.ANYONE_IN  # teachers, admins covering the school, students, guardians of students
SUBMITTERS = frozenset({rel.MEMBER, rel.GUARDIAN})


@dataclass(frozen=True)
class UploadSettings:
    limits: MediaLimits
    expires_seconds: int
    view_seconds: int


def _task_of(doc: dict[str, Any]) -> Task:
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


def _latest(versions: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    """(student, day) → the latest version (``versions`` oldest first)."""
    return {(v["student_id"], v["day"]): v for v in versions}


def _verdicts(reviews: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["submission_id"]: r for r in reviews if r["action"] in ("excellent", "redo")}


class CheckinService:
    def __init__(self, store: CheckinStore, access: ClassAccess, objects: ObjectStore, uploads: UploadSettings) -> None:
        self.store, self.access, self.objects, self.uploads = store, access, objects, uploads
        self.classes = access.store

    # --- access (classgroups.access: a stranger to the class learns 404, another relation 403)
    async def _children_in(self, class_id: str, parent: str) -> list[str]:
        out = []
        for child in await self.classes.children_of(parent):
            m = await self.classes.membership(class_id, child)
            if m is not None and m.status == "active":
                out.append(child)
        return out

    async def _students(self, class_id: str) -> list[str]:
        return [m.account_id for m in await self.classes.members(class_id)]

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
        return _task_of(doc)

    # --- tasks
    async def create_task(self, class_id: str, caller: Caller, spec: dict[str, Any], now: datetime) -> dict[str, Any]:
        await self.access.require(caller, class_id, TEACHERS)
        task_id = uuid.uuid4().hex
        schedule = Schedule(
            spec["schedule"]["kind"],
            spec["schedule"]["starts_on"],
            spec["schedule"]["ends_on"],
            tuple(spec["schedule"].get("dates") or ()),
        )
        task = Task(
            task_id,
            class_id,
            spec["title"],
            schedule,
            Evidence(**spec["evidence"]),
            spec["late_days"],
            spec["labour"],
            spec.get("resource_id"),
        )
        task.check()
        doc = {
            "_id": task_id,
            "class_id": class_id,
            "teacher_id": caller.id,
            "title": spec["title"],
            "instructions": spec.get("instructions") or "",
            "schedule": {
                "kind": schedule.kind,
                "starts_on": schedule.starts_on.isoformat(),
                "ends_on": schedule.ends_on.isoformat(),
                "dates": sorted({d.isoformat() for d in schedule.dates}),
            },
            "evidence": spec["evidence"],
            "late_days": task.late_days,
            "labour": task.labour,
            "resource_id": task.resource_id,
            "created_at": now,
        }
        event = CheckinTaskCreated(
            task_id=task_id,
            class_id=class_id,
            teacher_id=caller.id,
            schedule=schedule.kind,
            starts_on=schedule.starts_on,
            ends_on=schedule.ends_on,
            labour=task.labour,
            resource_id=task.resource_id,
            created_at=now,
        )
        await self.store.add_task(doc, event)
        return doc

    async def tasks(self, class_id: str, caller: Caller) -> list[dict[str, Any]]:
        await self.access.require(caller, class_id, READERS)
        return await self.store.tasks_of(class_id)

    async def task(self, class_id: str, task_id: str, caller: Caller) -> dict[str, Any]:
        await self.access.require(caller, class_id, READERS)
        doc = await self.store.task(task_id)
        if doc is None or doc["class_id"] != class_id:
            raise NotFound("no such check-in task in this class", code="task_not_found")
        return doc

    # --- media
    def _prefix(self, task: Task, student_id: str) -> str:
        # Account ids only (no names): the key says whose check-in it is, so a submission can only name objects
        # uploaded for its own student and task.
        return f"checkins/{task.class_id}/{task.task_id}/{student_id}/"

    async def presign(
        self,
        class_id: str,
        task_id: str,
        caller: Caller,
        student_id: str | None,
        kind: MediaKind,
        content_type: str,
        size: int,
    ) -> dict[str, Any]:
        student = await self._for_student(caller, class_id, student_id)
        task = await self._task(class_id, task_id)
        check_upload_request(kind, content_type, size, self.uploads.limits, "")
        key = self._prefix(task, student) + f"{uuid.uuid4().hex}"
        upload = self.objects.presign_upload(
            key, content_type, self.uploads.limits.max_bytes(kind), self.uploads.expires_seconds
        )
        return {
            "key": key,
            "url": upload.url,
            "fields": upload.fields,
            "max_bytes": self.uploads.limits.max_bytes(kind),
            "expires_in": self.uploads.expires_seconds,
        }

    # --- submissions
    async def submit(
        self, class_id: str, task_id: str, caller: Caller, body: dict[str, Any], now: datetime
    ) -> dict[str, Any]:
        student = await self._for_student(caller, class_id, body.get("student_id"))
        task = await self._task(class_id, task_id)
        day: date = body["day"]
        media = body.get("media") or []
        task.evidence.check_submission(
            body.get("text") or "",
            sum(1 for m in media if m["kind"] == "photo"),
            sum(1 for m in media if m["kind"] == "video"),
        )
        prefix = self._prefix(task, student)
        for i, m in enumerate(media):
            if not m["key"].startswith(prefix):
                raise Invalid(
                    "this object was not uploaded for this check-in", code="media_foreign", field=f"media.{i}.key"
                )
        if len({m["key"] for m in media}) != len(media):
            raise Invalid("the same object twice", code="media_repeated", field="media")
        versions = await self.store.submissions([task_id], student_id=student, day=day.isoformat())
        version, redo_at = 1, None
        if versions:
            latest = versions[-1]
            verdict = _verdicts(await self.store.reviews([task_id])).get(latest["_id"])
            if verdict is None or verdict["action"] != "redo":
                raise Conflict(f"{day} is checked in already", code="already_submitted")
            version, redo_at = latest["version"] + 1, verdict["at"]
        timeliness = task.timeliness(day, now, redo_at)
        stored = []
        for i, m in enumerate(media):
            obj = await self.objects.inspect(m["key"])
            check_stored(m["kind"], m["content_type"], obj, self.uploads.limits, f"media.{i}")
            stored.append(CheckinMedia(key=m["key"], kind=m["kind"], content_type=m["content_type"], size=obj.size))
        submission_id = f"{task_id}:{student}:{day.isoformat()}:v{version}"
        doc = {
            "_id": submission_id,
            "task_id": task_id,
            "class_id": class_id,
            "student_id": student,
            "submitted_by": caller.id,
            "day": day.isoformat(),
            "version": version,
            "timeliness": timeliness,
            "text": body.get("text") or "",
            "media": [m.model_dump() for m in stored],
            "submitted_at": now,
        }
        event = CheckinSubmitted(
            submission_id=submission_id,
            task_id=task_id,
            class_id=class_id,
            student_id=student,
            submitted_by=caller.id,
            day=day,
            version=version,
            timeliness=timeliness,
            media=stored,
            submitted_at=now,
        )
        if not await self.store.add_submission(doc, event):
            raise Conflict(f"{day} was checked in meanwhile", code="already_submitted")
        return doc

    async def submissions(
        self, class_id: str, task_id: str, caller: Caller, student_id: str | None, day: date | None
    ) -> list[dict[str, Any]]:
        """The teacher sees every student's; a student only their own; a parent only their children's."""
        standing = await self.access.require(caller, class_id, READERS)
        await self._task(class_id, task_id)
        allowed = await self._visible_students(standing, caller)
        if student_id is not None and allowed is not None and student_id not in allowed:
            raise Forbidden("not a check-in you may see", code="not_your_student")
        found = await self.store.submissions([task_id], student_id=student_id, day=day and day.isoformat())
        reviews = await self.store.reviews([task_id])
        by_submission: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for r in reviews:
            by_submission[r["submission_id"]].append(r)
        out = []
        for s in found:
            if allowed is not None and s["student_id"] not in allowed:
                continue
            rs = by_submission.get(s["_id"], [])
            verdict = next((r["action"] for r in rs if r["action"] in ("excellent", "redo")), None)
            out.append(
                {
                    **s,
                    "verdict": verdict,
                    "likes": sum(1 for r in rs if r["action"] == "like"),
                    "comments": [
                        {"reviewer_id": r["reviewer_id"], "comment": r["comment"], "at": r["at"]}
                        for r in rs
                        if r.get("comment")
                    ],
                    "media": [
                        {**m, "url": self.objects.presign_view(m["key"], self.uploads.view_seconds)} for m in s["media"]
                    ],
                }
            )
        return out

    # --- reviews
    async def review(
        self, class_id: str, task_id: str, submission_id: str, caller: Caller, action: str, comment: str, now: datetime
    ) -> dict[str, Any]:
        await self.access.require(caller, class_id, TEACHERS)
        await self._task(class_id, task_id)
        sub = await self.store.submission(submission_id)
        if sub is None or sub["task_id"] != task_id:
            raise NotFound("no such submission", code="submission_not_found")
        if action == "comment" and not comment.strip():
            raise Invalid("a comment needs text", code="comment_required", field="comment")
        review_id = {
            "like": f"{submission_id}:like:{caller.id}",
            "excellent": f"{submission_id}:verdict",
            "redo": f"{submission_id}:verdict",
        }.get(action, f"{submission_id}:comment:{uuid.uuid4().hex}")
        doc = {
            "_id": review_id,
            "submission_id": submission_id,
            "task_id": task_id,
            "class_id": class_id,
            "student_id": sub["student_id"],
            "reviewer_id": caller.id,
            "action": action,
            "comment": comment,
            "at": now,
        }
        event = CheckinReviewed(
            submission_id=submission_id,
            task_id=task_id,
            class_id=class_id,
            student_id=sub["student_id"],
            reviewer_id=caller.id,
            action=action,
            reviewed_at=now,  # type: ignore[arg-type]
        )
        if not await self.store.add_review(doc, event):
            if action == "like":
                return doc  # liking twice is liking
            raise Conflict("this version has its verdict already", code="verdict_given")
        return doc

    # --- streaks, leaderboard
    async def _done(self, task: Task) -> tuple[dict[str, set[date]], dict[str, dict[date, DayRecord]]]:
        versions = await self.store.submissions([task.task_id])
        verdicts = _verdicts(await self.store.reviews([task.task_id]))
        done: dict[str, set[date]] = defaultdict(set)
        records: dict[str, dict[date, DayRecord]] = defaultdict(dict)
        for (student, day), v in _latest(versions).items():
            d = date.fromisoformat(day)
            done[student].add(d)
            verdict = verdicts.get(v["_id"])
            records[student][d] = DayRecord(d, v["timeliness"], verdict["action"] if verdict else None)
        return done, records

    async def progress(
        self, class_id: str, task_id: str, caller: Caller, student_id: str, now: datetime
    ) -> dict[str, Any]:
        standing = await self.access.require(caller, class_id, READERS)
        task = await self._task(class_id, task_id)
        allowed = await self._visible_students(standing, caller)
        if allowed is not None and student_id not in allowed:
            raise Forbidden("not a student whose check-ins you may see", code="not_your_student")
        done, records = await self._done(task)
        today = beijing_day(now)
        current, longest = streaks(task, done.get(student_id, set()), today)
        states = day_states(task, records.get(student_id, {}), today)
        return {
            "student_id": student_id,
            "current_streak": current,
            "longest_streak": longest,
            "days": [{"day": d, "state": s} for d, s in states.items()],
        }

    async def leaderboard(self, class_id: str, task_id: str, caller: Caller, now: datetime) -> list[dict[str, Any]]:
        await self.access.require(caller, class_id, READERS)
        task = await self._task(class_id, task_id)
        done, _ = await self._done(task)
        students = await self._students(class_id)
        board = leaderboard(task, {s: done.get(s, set()) for s in students}, beijing_day(now))
        return [
            {
                "rank": i + 1,
                "student_id": s.student_id,
                "current_streak": s.current,
                "longest_streak": s.longest,
                "days_done": s.days_done,
            }
            for i, s in enumerate(board)
        ]

    # --- labour stars
    async def award_stars(
        self, class_id: str, label: str, now: datetime, caller: Caller | None = None
    ) -> dict[str, Any]:
        """Award the class's labour stars for a period, once (``caller`` None: the periodic award)."""
        if caller is not None:
            await self.access.require(caller, class_id, TEACHERS)
        period = Period.parse(label)
        now = now.replace(microsecond=now.microsecond // 1000 * 1000)  # as the store keeps it: both answers equal
        existing = await self.store.award_of(class_id, period.label)
        if existing is not None:
            return existing
        tasks = [_task_of(d) for d in await self.store.tasks_of(class_id)]
        stars_ready(period, [t for t in tasks if t.labour], beijing_day(now))
        records: dict[str, dict[str, list[DayRecord]]] = {}
        for task in (t for t in tasks if t.labour):
            _, by_student = await self._done(task)
            records[task.task_id] = {s: list(days.values()) for s, days in by_student.items()}
        outcome = labour_stars(period, tasks, records, await self._students(class_id))
        stars = [{"student_id": s.student_id, "points": s.points} for s in outcome.stars]
        doc = {
            "_id": f"{class_id}:{period.label}",
            "class_id": class_id,
            "period": period.label,
            "period_kind": period.kind,
            "scheduled_days": outcome.scheduled_days,
            "stars": stars,
            "awarded_at": now,
        }
        events = (
            [
                LabourStarsAwarded(
                    class_id=class_id,
                    period=period.label,
                    period_kind=period.kind,
                    stars=[LabourStar(**s) for s in stars],
                    awarded_at=now,
                )
            ]
            if stars
            else []
        )
        if not await self.store.award(doc, events):
            return await self.store.award_of(class_id, period.label)  # type: ignore[return-value]
        return doc

    async def stars(self, class_id: str, caller: Caller) -> list[dict[str, Any]]:
        await self.access.require(caller, class_id, READERS)
        return await self.store.awards(class_id)

    async def award_due(self, now: datetime) -> int:
        """The periodic award: last week's and last month's stars of every class with labour tasks, once their
        late windows closed. Run by every replica; the award's unique insert makes it happen once."""
        awarded = 0
        today = beijing_day(now)
        for class_id in await self.store.labour_classes():
            for kind in ("week", "month"):
                period = Period.containing(kind, today).previous()  # type: ignore[arg-type]
                try:
                    await self.award_stars(class_id, period.label, now)
                    awarded += 1
                except Conflict:
                    continue  # not over yet (late windows still open)
        return awarded


def utcnow() -> datetime:
    return datetime.now(UTC)
