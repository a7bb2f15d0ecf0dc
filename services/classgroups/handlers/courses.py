"""After-school courses: publishing (a school admin), requests (a student or their guardian, answered 202 once
Kafka holds them), and the course writer that applies them one course at a time (see ``domain.courses`` for why).
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from datetime import datetime, time
from typing import Any, Protocol

from classgroups.access import Caller
from classgroups.domain.courses import Course, CourseState, Slot
from classgroups.store import ClassGroupsStore, CourseStore
from common.contracts.classgroups import CourseDropped, CoursePublished, CourseSelected, CourseSelectionRequested
from common.errors import Conflict, Forbidden, Invalid, NotFound
from common.messaging import Envelope

log = logging.getLogger("classgroups.courses")


class Publisher(Protocol):
    async def publish(self, event: Any, *, event_id: str | None = None) -> None: ...


def course_of(doc: dict[str, Any]) -> Course:
    return Course(
        doc["_id"],
        doc["school_id"],
        doc["term"],
        doc["title"],
        doc["capacity"],
        tuple(Slot(s["weekday"], time.fromisoformat(s["starts"]), time.fromisoformat(s["ends"])) for s in doc["slots"]),
        tuple(doc["grades"]),
        doc["opens_at"],
        doc["closes_at"],
    )


def fold(capacity: int, ops: list[dict[str, Any]]) -> CourseState:
    state = CourseState(capacity)
    for op in ops:
        state.apply(op)
    return state


class CourseService:
    def __init__(self, store: CourseStore, classes: ClassGroupsStore, publisher: Publisher) -> None:
        self.store, self.classes, self.publisher = store, classes, publisher
        self._courses: dict[str, dict[str, Any]] = {}

    async def publish(self, who: str, spec: dict[str, Any], now: datetime) -> dict[str, Any]:
        course_id = uuid.uuid4().hex
        slots = tuple(Slot(s["weekday"], s["starts"], s["ends"]) for s in spec["slots"])
        course = Course(
            course_id,
            spec["school"],
            spec["term"],
            spec["title"],
            spec["capacity"],
            slots,
            tuple(spec["grades"]),
            spec["opens_at"],
            spec["closes_at"],
        )
        course.check()
        doc = {
            "_id": course_id,
            "school_id": course.school_id,
            "term": course.term,
            "title": course.title,
            "description": spec.get("description") or "",
            "capacity": course.capacity,
            "slots": [
                {"weekday": s.weekday, "starts": s.starts.isoformat("minutes"), "ends": s.ends.isoformat("minutes")}
                for s in slots
            ],
            "grades": sorted(set(course.grades)),
            "opens_at": course.opens_at,
            "closes_at": course.closes_at,
            "published_by": who,
            "published_at": now,
        }
        await self.store.add_course(
            doc,
            CoursePublished(
                course_id=course_id,
                school_id=course.school_id,
                term=course.term,
                capacity=course.capacity,
                grades=doc["grades"],
                opens_at=course.opens_at,
                closes_at=course.closes_at,
                published_by=who,
                published_at=now,
            ),
        )
        return doc

    async def course(self, course_id: str) -> dict[str, Any]:
        # A published course does not change: kept in memory once read (each lookup is a scan on FerretDB).
        doc = self._courses.get(course_id) or await self.store.course(course_id)
        if doc is None:
            raise NotFound("no such course", code="course_not_found")
        if len(self._courses) > 10_000:
            self._courses.clear()
        self._courses[course_id] = doc
        return doc

    async def request(
        self, course_id: str, caller: Caller, student_id: str | None, kind: str, now: datetime
    ) -> dict[str, Any]:
        """Queue a selection or a drop: once Kafka acknowledged it, it will be applied in arrival order. A
        student chooses for themself, a guardian (identity's guardian links) for their child; the student must be
        a student of the course's school (identity's role grants) in an administrative class of an eligible grade."""
        course = course_of(await self.course(course_id))
        who = caller.id
        if student_id is None:
            student_id = who
        if student_id != who and not await self.classes.directory.is_guardian(who, student_id):
            raise Forbidden("you may choose only for yourself or your own child", code="not_your_child")
        if kind == "select":
            refusal = course.window_refusal(now)
            if refusal:
                raise Conflict(f"the selection window is {refusal.removeprefix('window_')}", code=refusal)
            await self._eligible(course, student_id)
        request_id = uuid.uuid4().hex
        await self.publisher.publish(
            CourseSelectionRequested(
                request_id=request_id,
                course_id=course_id,
                student_id=student_id,
                requested_by=who,
                kind=kind,
                requested_at=now,  # type: ignore[arg-type]
            ),
            event_id=request_id,
        )
        return {"request_id": request_id, "course_id": course_id, "student_id": student_id, "status": "pending"}

    async def _eligible(self, course: Course, student_id: str) -> None:
        account = await self.classes.directory.account(student_id)
        if account is None or not account.holds("student", course.school_id):
            raise Forbidden("only students of the course's school choose its courses", code="not_of_school")
        grades = set()
        for m in await self.classes.classes.memberships_of(student_id):
            cls = await self.classes.classes.get_class(m.class_id) if m.status == "active" else None
            if cls is not None and cls.administrative and cls.school == course.school_id:
                grades.add(cls.grade)
        if not grades & set(course.grades):
            raise Invalid(
                f"the course is for grades {', '.join(map(str, course.grades))}",
                code="grade_not_eligible",
                field="student_id",
            )

    async def outcome(self, request_id: str, who: str) -> dict[str, Any]:
        op = await self.store.op_of_request(request_id)
        if op is None:
            return {"request_id": request_id, "status": "pending"}
        if who not in (op["requested_by"], op["student_id"]):
            raise NotFound("no such request", code="request_not_found")
        return {"status": "decided", **{k: v for k, v in op.items() if k != "_id"}}

    async def roster(self, course_id: str) -> dict[str, Any]:
        doc = await self.course(course_id)
        state = fold(doc["capacity"], await self.store.ops(course_id))
        return {"course_id": course_id, "capacity": doc["capacity"], "seated": state.seated, "waitlist": state.waitlist}

    # --- the course writer (one consumer per partition; a course lives on one partition)
    async def apply(self, envelopes: list[Envelope]) -> None:
        by_course: dict[str, list[Envelope]] = defaultdict(list)
        for e in envelopes:
            if isinstance(e.event, CourseSelectionRequested):
                by_course[e.event.course_id].append(e)
        for course_id, batch in by_course.items():
            await self._apply_course(course_id, batch)

    async def _apply_course(self, course_id: str, batch: list[Envelope]) -> None:
        try:
            doc = await self.course(course_id)
        except NotFound:
            log.warning("requests for unknown course %s dropped", course_id)
            return
        course = course_of(doc)
        ops = await self.store.ops(course_id)
        applied = {op["_id"] for op in ops}
        state = fold(course.capacity, ops)
        for e in sorted(batch, key=lambda e: e.offset):
            op_id = f"{course_id}:{e.partition:03d}:{e.offset:012d}"
            if op_id in applied:
                continue  # applied before a crash or a rebalance: its outcome is in the state already
            req: CourseSelectionRequested = e.event  # type: ignore[assignment]
            op, events = await self._decide(course, state, req, op_id)
            if not await self.store.add_op(op, events):
                # another writer (a zombie of a rebalance) applied it first, from the same history: same outcome
                state = fold(course.capacity, await self.store.ops(course_id))
            elif op["kind"] == "drop" and op["outcome"] == "dropped":
                await self.store.release(self._claim_ids(course, req.student_id))

    def _claim_ids(self, course: Course, student: str) -> list[str]:
        return [f"{course.term}:{student}:{cell}" for cell in course.cells()]

    async def _decide(
        self, course: Course, state: CourseState, req: CourseSelectionRequested, op_id: str
    ) -> tuple[dict[str, Any], list[Any]]:
        now = req.requested_at
        op: dict[str, Any] = {
            "_id": op_id,
            "course_id": course.course_id,
            "request_id": req.request_id,
            "kind": req.kind,
            "student_id": req.student_id,
            "requested_by": req.requested_by,
            "requested_at": req.requested_at,
            "outcome": None,
            "reason": None,
            "promoted": None,
        }
        if req.kind == "drop":
            outcome, promoted = state.drop(req.student_id)
            op.update(outcome=outcome, promoted=promoted)
            events = (
                [
                    CourseDropped(
                        request_id=req.request_id,
                        course_id=course.course_id,
                        student_id=req.student_id,
                        promoted=promoted,
                        decided_at=now,
                    )
                ]
                if outcome == "dropped"
                else []
            )
            return op, events
        reason = None
        if state.holds(req.student_id):
            reason = "already_holds_a_place"
        elif not await self._claim_slots(course, req.student_id):
            reason = "slot_conflict"
        if reason:
            op.update(outcome="refused", reason=reason)
        else:
            op["outcome"] = state.select(req.student_id)
        event = CourseSelected(
            request_id=req.request_id,
            course_id=course.course_id,
            student_id=req.student_id,
            outcome=op["outcome"],
            reason=reason,
            decided_at=now,
        )
        return op, [event]

    async def _claim_slots(self, course: Course, student: str) -> bool:
        """Claim the student's cells of the week for this course; False when another course they still hold
        has one. A claim left by a course they no longer hold (a drop that crashed before releasing) is freed."""
        docs = [
            {"_id": i, "course_id": course.course_id, "student_id": student} for i in self._claim_ids(course, student)
        ]
        for _ in range(2):
            held = [c for c in await self.store.claim(docs) if c["course_id"] != course.course_id]
            if not held:
                return True
            stale = []
            for other_id in {c["course_id"] for c in held}:
                other = await self.store.course(other_id)
                ops = await self.store.ops(other_id)
                if other is not None and fold(other["capacity"], ops).holds(student):
                    mine = {d["_id"] for d in docs} - {c["_id"] for c in held}
                    await self.store.release(sorted(mine))
                    return False
                stale += [c["_id"] for c in held if c["course_id"] == other_id]
            await self.store.release(stale)
        return False
