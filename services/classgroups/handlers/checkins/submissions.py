"""Submissions: a student (or their guardian) checks in for a day, with media read back from the object store and
checked; listings show each caller only the check-ins they may see."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime
from typing import Any

from classgroups.access import Caller
from classgroups.domain.checkins import Task, submission_id
from classgroups.domain.media import check_stored
from classgroups.handlers.checkins.base import READERS, CheckinHandler, verdicts_of
from common.contracts.classgroups import CheckinMedia, CheckinSubmitted
from common.errors import Conflict, Forbidden, Gone, Invalid


class Submissions(CheckinHandler):
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
        stored = []
        for i, m in enumerate(media):
            obj = await self.objects.inspect(m["key"])
            check_stored(m["kind"], m["content_type"], obj, self.uploads.limits, f"media.{i}")
            stored.append(CheckinMedia(key=m["key"], kind=m["kind"], content_type=m["content_type"], size=obj.size))
        # The first version is inserted without looking first (its ``_id`` is the check: each lookup is a scan on
        # FerretDB); only when the day holds a version already is it read, and a next version allowed after a redo.
        try:
            first: str | None = task.timeliness(day, now, None)
        except Gone as closed:
            first, refusal = None, closed  # closed for a first check-in; a redo may still be open
        if first is not None:
            doc = await self._insert(task, student, caller, body, day, 1, first, stored, now)
            if doc is not None:
                return doc
        latest = await self.store.latest_version(task_id, student, day.isoformat())
        if not latest:
            if first is None:
                raise refusal
            raise Conflict(f"{day} was checked in meanwhile", code="already_submitted")
        verdict = verdicts_of(await self.store.reviews([task_id])).get(
            submission_id(task_id, student, day.isoformat(), latest)
        )
        if verdict is None or verdict["action"] != "redo":
            raise Conflict(f"{day} is checked in already", code="already_submitted")
        timeliness = task.timeliness(day, now, verdict["at"])
        doc = await self._insert(task, student, caller, body, day, latest + 1, timeliness, stored, now)
        if doc is None:
            raise Conflict(f"{day} was checked in meanwhile", code="already_submitted")
        return doc

    async def _insert(
        self,
        task: Task,
        student: str,
        caller: Caller,
        body: dict[str, Any],
        day: date,
        version: int,
        timeliness: str,
        stored: list[CheckinMedia],
        now: datetime,
    ) -> dict[str, Any] | None:
        """Version ``version`` of the day's check-in, with its event; None when that version exists already."""
        doc_id = submission_id(task.task_id, student, day.isoformat(), version)
        # as the store keeps it (milliseconds): the event a sweep derives from the document is the one sent now
        now = now.replace(microsecond=now.microsecond // 1000 * 1000)
        doc = {
            "_id": doc_id,
            "task_id": task.task_id,
            "class_id": task.class_id,
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
            submission_id=doc_id,
            task_id=task.task_id,
            class_id=task.class_id,
            student_id=student,
            submitted_by=caller.id,
            day=day,
            version=version,
            timeliness=timeliness,  # type: ignore[arg-type]
            media=stored,
            submitted_at=now,
        )
        return doc if await self.store.add_submission(doc, event) else None

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
