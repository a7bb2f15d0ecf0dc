"""Labour stars per class and period, awarded once (by a teacher or by the periodic sweep of every replica)."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Any

from classgroups.access import Caller
from classgroups.domain.checkins import DayRecord, Period, beijing_day, labour_stars, stars_ready
from classgroups.handlers.checkins.base import READERS, TEACHERS, CheckinHandler, task_of, utcnow
from common.contracts.classgroups import LabourStar, LabourStarsAwarded
from common.errors import Conflict

log = logging.getLogger("classgroups.checkins")


class LabourStars(CheckinHandler):
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
        tasks = [task_of(d) for d in await self.store.tasks_of(class_id)]
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

    async def sweep(self, every_seconds: float) -> None:
        """The periodic award, forever (a background task of every replica)."""
        while True:
            await asyncio.sleep(every_seconds)
            try:
                await self.award_due(utcnow())
            except Exception:  # the next sweep tries again; a failure here must not stop the service
                log.exception("labour stars sweep failed")
