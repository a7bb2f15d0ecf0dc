"""Events of the recommender (推荐, 智能错题本), for other systems (learning analytics, click-through analysis).

All keyed by the student's (or user's) id; ids only, never a name, never an answer key or the student's own
response text (a fill-in answer may hold anything a child types).
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from pydantic import Field

from common.contracts.base import Event
from common.topics import RECOMMENDER_LEARNING, RECOMMENDER_PROFILES, RECOMMENDER_SERVED

LEARNING_TOPIC = RECOMMENDER_LEARNING
SERVED_TOPIC = RECOMMENDER_SERVED
PROFILES_TOPIC = RECOMMENDER_PROFILES


class AnswerGraded(Event):
    """A student's answer to an objective exercise was graded."""

    TYPE: ClassVar[str] = "cn.smartedu.recommender.answer.graded.v1"
    TOPIC: ClassVar[str] = LEARNING_TOPIC

    answer_id: str = Field(description="`<student id>:<submission id>:<exercise id>`: stable across retries.")
    student_id: str
    exercise_id: str
    exercise_version: int
    subject_code: str = Field(description="School subject code of the exercise, e.g. math.")
    knowledge_points: list[str]
    correct: bool
    graded_at: datetime

    def key(self) -> str:
        return self.student_id


class MasteryChanged(Event):
    """The estimated mastery of a knowledge point by a student moved (Bayesian Knowledge Tracing)."""

    TYPE: ClassVar[str] = "cn.smartedu.recommender.mastery.changed.v1"
    TOPIC: ClassVar[str] = LEARNING_TOPIC

    student_id: str
    knowledge_point: str
    before: float = Field(ge=0, le=1)
    after: float = Field(ge=0, le=1)
    answer_id: str
    changed_at: datetime

    def key(self) -> str:
        return self.student_id


class RecommendationServed(Event):
    """A page of recommendations was shown (sampled: RECOMMENDER_SERVED_SAMPLE_RATE)."""

    TYPE: ClassVar[str] = "cn.smartedu.recommender.recommendation.served.v1"
    TOPIC: ClassVar[str] = SERVED_TOPIC

    page_id: str
    user_id: str
    resource_ids: list[str]
    reasons: list[str] = Field(description="Reason codes, one per item (next_lesson, weak_point, popular, ...).")
    served_at: datetime

    def key(self) -> str:
        return self.user_id


class ProfileSet(Event):
    """A user set their learning profile (codes only, no personal data); the latest per user is the profile."""

    TYPE: ClassVar[str] = "cn.smartedu.recommender.profile.set.v1"
    TOPIC: ClassVar[str] = PROFILES_TOPIC

    user_id: str
    grade: int | None = Field(None, ge=1, le=12, description="A student's grade.")
    grades: list[int] = Field([], description="A teacher's grades.")
    subjects: list[str] = Field([], description="Subject codes, e.g. math.")
    textbook_versions: list[str] = Field([], description="Textbook version node ids (教材版本).")
    province: str | None = Field(None, description="GB/T 2260 province code.")
    set_at: datetime

    def key(self) -> str:
        return self.user_id
