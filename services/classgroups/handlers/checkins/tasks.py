"""Check-in tasks: a teacher of the class sets one; anyone in the class reads them."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from classgroups.access import Caller
from classgroups.domain.checkins import Evidence, Schedule, Task
from classgroups.handlers.checkins.base import READERS, TEACHERS, CheckinHandler
from common.contracts.classgroups import CheckinTaskCreated
from common.errors import NotFound


class CheckinTasks(CheckinHandler):
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
