"""Streaks and the task's leaderboard."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from classgroups.access import Caller
from classgroups.domain.checkins import beijing_day, day_states, leaderboard, streaks
from classgroups.handlers.checkins.base import READERS, CheckinHandler
from common.errors import Forbidden


class Streaks(CheckinHandler):
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
