"""Handlers of 综合素质评价: teachers record, a student sees their own, a parent only their child's, the head
teacher (and the school's admins) the class summary."""

from __future__ import annotations

from typing import Any

from classgroups import access as rel
from classgroups.access import Caller, ClassAccess
from classgroups.domain import charts
from classgroups.domain import evaluation as domain
from classgroups.domain.evaluation import Evaluation, Evidence
from classgroups.domain.leaves import beijing_today
from classgroups.handlers import now
from classgroups.store import ClassGroupsStore


class Evaluations:
    def __init__(self, store: ClassGroupsStore, access: ClassAccess) -> None:
        self.store, self.access = store, access

    async def record(
        self,
        caller: Caller,
        class_id: str,
        *,
        student: str,
        dimension: domain.Dimension,
        points: int,
        comment: str,
        evidence: Evidence | None,
    ) -> Evaluation:
        await self.access.require_administrative(caller, class_id, {rel.TEACHER})
        await self.access.require_on_roster(class_id, student)
        e, events = domain.record(
            class_id=class_id,
            student=student,
            teacher=caller.id,
            dimension=dimension,
            points=points,
            comment=comment,
            evidence=evidence,
            at=now(),
        )
        await self.store.evaluations.add_evaluation(e, events)  # type: ignore[arg-type]
        return e

    async def of_student(self, caller: Caller, student: str, term: str | None) -> tuple[str, list[Evaluation]]:
        """The student's records of the term (default: the current one): the student or a guardian only."""
        await self.access.require_student_view(caller, student)
        term = term or domain.term_of(beijing_today(now()))
        return term, await self.store.evaluations.evaluations(term=term, student=student)

    async def chart(self, caller: Caller, student: str, term: str | None) -> str:
        term, records = await self.of_student(caller, student, term)
        return charts.term_chart(term, {d: v["points"] for d, v in domain.summary(records).items()})

    async def of_class(self, caller: Caller, class_id: str, term: str | None) -> dict[str, Any]:
        await self.access.require_administrative(caller, class_id, {rel.HEAD, rel.ADMIN})
        term = term or domain.term_of(beijing_today(now()))
        students = [m.account_id for m in await self.store.classes.members(class_id)]
        records = await self.store.evaluations.evaluations(term=term, class_id=class_id)
        return {"term": term, "students": domain.class_summary(students, records)}
