"""Comprehensive quality evaluation (综合素质评价) in five dimensions: 德 moral, 智 intellectual, 体 physical,
美 aesthetic, 劳 labour.

Teachers of an administrative class record points (−5…+5: a kept promise, a missed duty) with a comment and,
optionally, evidence (a check-in, a catalog resource). Records are facts: never edited, a correction is another
record. A term summary per student adds them up per dimension (with a chart); the class summary is the head
teacher's view of every student. Terms follow the school year: September–January is the first term of the year
that starts in September, February–August the second.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal

from classgroups.domain.leaves import beijing_today
from common.contracts.classgroups import EvaluationRecorded

Dimension = Literal["moral", "intellectual", "physical", "aesthetic", "labour"]
DIMENSIONS: dict[str, str] = {
    "moral": "德",
    "intellectual": "智",
    "physical": "体",
    "aesthetic": "美",
    "labour": "劳",
}
MIN_POINTS, MAX_POINTS = -5, 5
TERM_PATTERN = r"^\d{4}-[12]$"


def term_of(day: date) -> str:
    if day.month >= 9:
        return f"{day.year}-1"
    if day.month == 1:
        return f"{day.year - 1}-1"
    return f"{day.year - 1}-2"


def term_name(term: str) -> str:
    year, half = term.split("-")
    return f"{year}学年第{'一' if half == '1' else '二'}学期"


@dataclass(frozen=True)
class Evidence:
    kind: Literal["checkin", "resource"]
    id: str


@dataclass(frozen=True)
class Evaluation:
    id: str
    class_id: str
    student: str
    teacher: str
    dimension: Dimension
    points: int
    comment: str
    evidence: Evidence | None
    term: str
    at: datetime


def record(
    *,
    class_id: str,
    student: str,
    teacher: str,
    dimension: Dimension,
    points: int,
    comment: str,
    evidence: Evidence | None,
    at: datetime,
) -> tuple[Evaluation, list[object]]:
    e = Evaluation(
        f"ev-{uuid.uuid4().hex[:16]}",
        class_id,
        student,
        teacher,
        dimension,
        points,
        comment,
        evidence,
        term_of(beijing_today(at)),
        at,
    )
    event = EvaluationRecorded(
        class_id=class_id,
        occurred_at=at,
        evaluation_id=e.id,
        student_id=student,
        teacher_id=teacher,
        dimension=dimension,
        points=points,
        term=e.term,
    )
    return e, [event]


def summary(records: list[Evaluation]) -> dict[str, dict[str, int]]:
    """Per dimension: points added up, and how many records."""
    out = {d: {"points": 0, "records": 0} for d in DIMENSIONS}
    for r in records:
        out[r.dimension]["points"] += r.points
        out[r.dimension]["records"] += 1
    return out


def class_summary(students: list[str], records: list[Evaluation]) -> list[dict[str, object]]:
    by_student: dict[str, list[Evaluation]] = {s: [] for s in students}
    for r in records:
        by_student.setdefault(r.student, []).append(r)
    return [
        {"student_id": s, "dimensions": {d: v["points"] for d, v in summary(rs).items()}}
        for s, rs in by_student.items()
    ]
