"""Events of the catalog's exercise items (习题), on ``catalog.exercises.v1``, keyed by exercise id.

The topic carries the **answer key**, so it is not a replication feed: ``common.topics`` declares one consumer
group on it, the recommender's, and the Kafka ACLs derived from that list let no other principal read it (no
province, no other service). Grading happens in the recommender (``services/recommender/README.md``). The catalog's
public API serves exercises without key and explanation.

Log-compacted like ``catalog.resources.v1``: the last record per exercise is its current state (a published
snapshot or a withdrawal), so a subscriber that reads from the start rebuilds the exercise bank; records of one
exercise carry ``version`` and a subscriber ignores one not newer than what it holds.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from common.contracts.base import Event
from common.topics import CATALOG_EXERCISES

ItemType = Literal["single_choice", "multiple_choice", "fill_blank"]
EXERCISES_TOPIC = CATALOG_EXERCISES


class Choice(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    key: str = Field(pattern=r"^[A-H]$")
    text: str = Field(min_length=1, max_length=1000)


class ExercisePlace(BaseModel):
    """The lesson (课时) the exercise belongs to, with its ancestors in the textbook tree."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    textbook_version_id: str
    volume_id: str
    unit_id: str
    lesson_id: str
    stage: str
    grade: int | None
    subject: str


class ExerciseSnapshot(BaseModel):
    """A published exercise, answer key and explanation included (this topic only)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    version: int = Field(ge=1)
    provider_id: str
    item_type: ItemType
    stem: str
    choices: list[Choice] = []
    answer_key: list[str] = Field(
        min_length=1, description="Choice keys (choice items) or the accepted answers of a blank."
    )
    explanation: str = ""
    knowledge_points: list[str] = Field(min_length=1)
    difficulty: int = Field(ge=1, le=5, description="1 easy … 5 hard.")
    place: ExercisePlace
    published_at: datetime


class ExercisePublished(Event):
    """An exercise (or a new version of it) was published."""

    TYPE: ClassVar[str] = "cn.smartedu.catalog.exercise.published.v1"
    TOPIC: ClassVar[str] = EXERCISES_TOPIC

    exercise: ExerciseSnapshot

    def key(self) -> str:
        return self.exercise.id


class ExerciseWithdrawn(Event):
    """An exercise was withdrawn: subscribers stop offering it (answers already given stay graded)."""

    TYPE: ClassVar[str] = "cn.smartedu.catalog.exercise.withdrawn.v1"
    TOPIC: ClassVar[str] = EXERCISES_TOPIC

    exercise_id: str
    version: int = Field(ge=1)
    reason: str
    withdrawn_at: datetime

    def key(self) -> str:
        return self.exercise_id
