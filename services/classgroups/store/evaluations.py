"""Evaluation records, insert only (``evaluations``, outbox source)."""

from __future__ import annotations

from typing import Any

from classgroups.domain.evaluation import Evaluation, Evidence
from classgroups.store.base import Collections
from common.contracts import Event


class EvaluationStore(Collections):
    async def add_evaluation(self, e: Evaluation, events: list[Event]) -> None:
        evidence = {"kind": e.evidence.kind, "id": e.evidence.id} if e.evidence else None
        doc = {"_id": e.id, "class_id": e.class_id, "student": e.student, "teacher": e.teacher, "dim": e.dimension}
        doc |= {"points": e.points, "comment": e.comment, "evidence": evidence, "term": e.term, "at": e.at}
        await self.insert_announced("evaluations", [doc], {e.id: events})

    async def evaluations(
        self, *, term: str, class_id: str | None = None, student: str | None = None
    ) -> list[Evaluation]:
        query: dict[str, Any] = {"term": term}
        if class_id:
            query["class_id"] = class_id
        if student:
            query["student"] = student
        cursor = self.db["evaluations"].find(query, {"outbox": 0}).sort("at", 1)
        return [_evaluation(d) async for d in cursor]


def _evaluation(d: dict[str, Any]) -> Evaluation:
    evidence = Evidence(d["evidence"]["kind"], d["evidence"]["id"]) if d.get("evidence") else None
    return Evaluation(
        d["_id"],
        d["class_id"],
        d["student"],
        d["teacher"],
        d["dim"],
        d["points"],
        d["comment"],
        evidence,
        d["term"],
        d["at"],
    )
