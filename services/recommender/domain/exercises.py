"""The exercise bank as the recommender holds it (from ``catalog.exercises.v1``, answer keys included) and the
grading rule. Grading is here, not in the catalog, because the key must reach as few places as possible: the
catalog publishes it on a topic only this service's Kafka principal may read, and this service answers a student
with the key only for an exercise the student has just answered."""

from __future__ import annotations

import unicodedata
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from common.contracts.exercises import ExercisePublished, ExerciseSnapshot, ExerciseWithdrawn


class Response(BaseModel):
    """A student's response to one exercise: the chosen keys of a choice item, or the text of a blank."""

    model_config = ConfigDict(extra="forbid")

    exercise_id: str = Field(min_length=1, max_length=100)
    choices: list[str] | None = Field(None, max_length=8)
    text: str | None = Field(None, max_length=500)

    @model_validator(mode="after")
    def one_kind(self) -> Response:
        if (self.choices is None) == (self.text is None):
            raise ValueError("give either choices or text")
        return self


def normalise(text: str) -> str:
    """Full-width to half-width (NFKC), case and surrounding/inner spaces ignored: ``１／２`` = ``1/2``."""
    return "".join(unicodedata.normalize("NFKC", text).casefold().split())


def grade(exercise: ExerciseSnapshot, response: Response) -> bool | None:
    """Right or wrong; None when the response does not fit the item (choices for a blank, unknown keys)."""
    if exercise.item_type == "fill_blank":
        if response.text is None:
            return None
        return normalise(response.text) in {normalise(a) for a in exercise.answer_key}
    if response.choices is None:
        return None
    keys = {c.key for c in exercise.choices}
    chosen = set(response.choices)
    if not chosen <= keys or (exercise.item_type == "single_choice" and len(chosen) != 1):
        return None
    return chosen == set(exercise.answer_key)


def public(exercise: ExerciseSnapshot) -> dict[str, Any]:
    """An exercise without its key and explanation."""
    return exercise.model_dump(mode="json", exclude={"answer_key", "explanation"})


def revealed(exercise: ExerciseSnapshot) -> dict[str, Any]:
    """An exercise the student has answered: the key and explanation may be shown."""
    return exercise.model_dump(mode="json")


@dataclass
class ExerciseBank:
    """Published exercises by id and by knowledge point; withdrawn ones are remembered (answers to them stay
    in notebooks) but never offered."""

    exercises: dict[str, ExerciseSnapshot] = field(default_factory=dict)
    withdrawn: dict[str, int] = field(default_factory=dict)  # id → version of the withdrawal
    by_kp: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))

    def apply(self, event: ExercisePublished | ExerciseWithdrawn) -> bool:
        """Apply one record; a record not newer than what is held is ignored (replays). True if applied."""
        if isinstance(event, ExercisePublished):
            snap = event.exercise
            if snap.version <= max(self._version(snap.id), self.withdrawn.get(snap.id, 0)):
                return False
            self._unindex(snap.id)
            self.exercises[snap.id] = snap
            self.withdrawn.pop(snap.id, None)
            for kp in snap.knowledge_points:
                self.by_kp[kp].add(snap.id)
            return True
        if event.version <= max(self._version(event.exercise_id), self.withdrawn.get(event.exercise_id, 0)):
            return False
        self._unindex(event.exercise_id)
        self.withdrawn[event.exercise_id] = event.version
        return True

    def offered(self, eid: str) -> bool:
        return eid in self.exercises and eid not in self.withdrawn

    def get(self, eid: str) -> ExerciseSnapshot | None:
        return self.exercises.get(eid)

    def of_kp(self, kp: str) -> list[ExerciseSnapshot]:
        return [self.exercises[e] for e in sorted(self.by_kp.get(kp, ())) if self.offered(e)]

    def _version(self, eid: str) -> int:
        snap = self.exercises.get(eid)
        return snap.version if snap else 0

    def _unindex(self, eid: str) -> None:
        old = self.exercises.get(eid)
        if old is not None:
            for kp in old.knowledge_points:
                self.by_kp[kp].discard(eid)
