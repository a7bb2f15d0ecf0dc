"""Leave requests with their history (``leaves``, outbox source)."""

from __future__ import annotations

from datetime import date
from typing import Any

from classgroups.domain.leaves import LeaveRequest, Step
from classgroups.store.base import Collections
from common.contracts import Event


class LeaveStore(Collections):
    async def add_leave(self, leave: LeaveRequest, events: list[Event]) -> None:
        await self.insert_announced("leaves", [_leave_doc(leave)], {leave.id: events})

    async def save_leave(self, before: LeaveRequest, after: LeaveRequest, events: list[Event]) -> None:
        doc = _leave_doc(after)
        await self.update_announced(
            "leaves", after.id, before.version, {k: doc[k] for k in ("status", "history")}, events
        )

    async def leave(self, leave_id: str) -> LeaveRequest | None:
        doc = await self.db["leaves"].find_one({"_id": leave_id}, {"outbox": 0})
        return _leave(doc) if doc else None

    async def leaves(
        self,
        *,
        class_id: str | None = None,
        student: str | None = None,
        on: date | None = None,
        status: str | None = None,
    ) -> list[LeaveRequest]:
        query: dict[str, Any] = {}
        if class_id:
            query["class_id"] = class_id
        if student:
            query["student"] = student
        if status:
            query["status"] = status
        if on is not None:  # ISO dates compare as strings
            query |= {"first_day": {"$lte": on.isoformat()}, "last_day": {"$gte": on.isoformat()}}
        return [_leave(d) async for d in self.db["leaves"].find(query, {"outbox": 0}).sort("_id", 1)]


def _leave_doc(x: LeaveRequest) -> dict[str, Any]:
    history = [{"at": h.at, "action": h.action, "by": h.by, "note": h.note} for h in x.history]
    return {
        "_id": x.id,
        "class_id": x.class_id,
        "student": x.student,
        "by": x.requested_by,
        "kind": x.kind,
        "first_day": x.first_day.isoformat(),
        "last_day": x.last_day.isoformat(),
        "periods": list(x.periods),
        "reason": x.reason,
        "attachment": x.attachment,
        "status": x.status,
        "history": history,
        "v": x.version,
    }


def _leave(d: dict[str, Any]) -> LeaveRequest:
    history = tuple(Step(h["at"], h["action"], h["by"], h.get("note")) for h in d["history"])
    return LeaveRequest(
        d["_id"],
        d["class_id"],
        d["student"],
        d["by"],
        d["kind"],
        date.fromisoformat(d["first_day"]),
        date.fromisoformat(d["last_day"]),
        tuple(d["periods"]),
        d["reason"],
        d.get("attachment"),
        d["status"],
        history,
        d["v"],
    )
