"""An exercise item (习题): a stem, choices or a blank, the answer key, an explanation, knowledge points, a
difficulty and the lesson (课时) it belongs to.

Rules only (no I/O): what a valid item is, where it sits in the textbook tree, and what the public may see of it.
The answer key and the explanation never leave the catalog except on ``catalog.exercises.v1``, which only the
recommender's Kafka principal may read (``common.contracts.exercises``); grading happens there.

Versions: every change appends a version (edit → N+1 published, withdrawal → N+1 withdrawn). Exercises are
published by the provider's reviewers directly (an exercise has no separate draft state: the reviewer is the
review).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

from common.contracts.exercises import Choice, ExercisePlace, ExerciseSnapshot, ItemType
from common.errors import Invalid

MAX_CHOICES = 8


class ExerciseContent(BaseModel):
    """The editable part of an exercise."""

    model_config = ConfigDict(extra="forbid")

    item_type: ItemType
    stem: str = Field(min_length=1, max_length=4000)
    choices: list[Choice] = Field([], max_length=MAX_CHOICES)
    answer_key: list[str] = Field(min_length=1, max_length=10)
    explanation: str = Field("", max_length=4000)
    knowledge_points: list[str] = Field(min_length=1, max_length=10)
    difficulty: int = Field(ge=1, le=5)
    lesson_id: str = Field(min_length=1, max_length=200)


class TreeNodeLike(Protocol):
    id: str
    type: str
    parent_id: str | None
    stage: str
    subject: str
    grade: int | None


def check(content: ExerciseContent) -> None:
    """The item's own consistency: choice items answer with their choices' keys, a blank has no choices."""
    keys = [c.key for c in content.choices]
    if content.item_type == "fill_blank":
        if keys:
            raise Invalid("a blank has no choices", code="exercise-blank-with-choices", field="content.choices")
        if any(not a.strip() or len(a) > 200 for a in content.answer_key):
            raise Invalid("accepted answers are 1-200 characters", code="exercise-bad-key", field="content.answer_key")
        return
    if len(keys) < 2 or len(set(keys)) != len(keys):
        raise Invalid(
            "a choice item has at least two choices with distinct keys",
            code="exercise-choices",
            field="content.choices",
        )
    if not set(content.answer_key) <= set(keys) or len(set(content.answer_key)) != len(content.answer_key):
        raise Invalid(
            "the answer key names choices the item does not have", code="exercise-bad-key", field="content.answer_key"
        )
    if content.item_type == "single_choice" and len(content.answer_key) != 1:
        raise Invalid(
            "a single-choice item has exactly one right choice", code="exercise-bad-key", field="content.answer_key"
        )
    if any(not kp.strip() or len(kp) > 100 for kp in content.knowledge_points):
        raise Invalid(
            "knowledge points are 1-100 characters", code="exercise-knowledge-point", field="content.knowledge_points"
        )


def place_of(lesson_id: str, nodes: Mapping[str, TreeNodeLike]) -> ExercisePlace:
    """The lesson and its ancestors; the lesson must be a lesson node of the tree."""
    lesson = nodes.get(lesson_id)
    if lesson is None or lesson.type != "lesson":
        raise Invalid(
            f"{lesson_id} is not a lesson of the textbook tree", code="exercise-lesson", field="content.lesson_id"
        )
    chain = [lesson]
    while chain[-1].parent_id is not None and chain[-1].parent_id in nodes and len(chain) < 4:
        chain.append(nodes[chain[-1].parent_id])
    if [n.type for n in chain] != ["lesson", "unit", "volume", "textbook_version"]:
        raise Invalid(
            f"{lesson_id} is not under a unit, volume and textbook version",
            code="exercise-lesson",
            field="content.lesson_id",
        )
    return ExercisePlace(
        textbook_version_id=chain[3].id,
        volume_id=chain[2].id,
        unit_id=chain[1].id,
        lesson_id=lesson.id,
        stage=lesson.stage,
        grade=lesson.grade,
        subject=lesson.subject,
    )


def exercise_id(provider_id: str, external_id: str) -> str:
    """Deterministic from the provider's own id: a retried create finds the exercise it made."""
    return "ex-" + hashlib.sha256(f"{provider_id}\x00{external_id}".encode()).hexdigest()[:20]


def snapshot(
    eid: str, version: int, provider_id: str, content: ExerciseContent, place: ExercisePlace, at: datetime
) -> ExerciseSnapshot:
    return ExerciseSnapshot(
        id=eid,
        version=version,
        provider_id=provider_id,
        item_type=content.item_type,
        stem=content.stem,
        choices=content.choices,
        answer_key=content.answer_key,
        explanation=content.explanation,
        knowledge_points=content.knowledge_points,
        difficulty=content.difficulty,
        place=place,
        published_at=at,
    )


def public_view(snap: ExerciseSnapshot | Mapping[str, Any]) -> dict[str, Any]:
    """What anyone may see: everything but the answer key and the explanation."""
    data = snap.model_dump(mode="json") if isinstance(snap, ExerciseSnapshot) else dict(snap)
    data.pop("answer_key", None)
    data.pop("explanation", None)
    return data
