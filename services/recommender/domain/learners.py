"""Every student's graded answers and what is folded from them (mastery, notebook), held in memory by each
replica so that a page, a notebook or a grading reads no store. Fed from three places that may repeat each
other: the store's answers loaded at start (beyond the topic's 90 days), the service's own ``answer.graded``
events on ``recommender.learning.v1`` (what other replicas graded), and this replica's own gradings as soon as
they are stored (read-your-writes). An answer id is applied once, whatever the order they come in.

Profiles (what users set; the latest per user wins) live here too, from ``recommender.profiles.v1``.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from recommender.domain.bkt import BktModel
from recommender.domain.notebook import GradedAnswer, Learning, fold
from recommender.domain.profile import Profile


def _order(a: GradedAnswer) -> tuple[datetime, str]:
    return (a.at, a.answer_id)


@dataclass
class Learners:
    model: BktModel
    clear_interval_days: float = 7.0
    answers: dict[str, list[GradedAnswer]] = field(default_factory=dict)  # student → answers in time order
    _ids: set[str] = field(default_factory=set)
    _folded: dict[str, Learning] = field(default_factory=dict)

    def add(self, student: str, answers: Iterable[GradedAnswer]) -> int:
        """Add answers not seen yet; how many were new. The folded state steps forward when they come in time
        order (the usual case) and is refolded lazily when one arrives late."""
        added = 0
        for a in answers:
            if a.answer_id in self._ids:
                continue
            self._ids.add(a.answer_id)
            mine = self.answers.setdefault(student, [])
            learning = self._folded.get(student)
            if not mine or _order(mine[-1]) <= _order(a):
                mine.append(a)
                if learning is not None:
                    learning.apply(a)
            else:
                bisect.insort(mine, a, key=_order)
                self._folded.pop(student, None)
            added += 1
        return added

    def answers_of(self, student: str) -> list[GradedAnswer]:
        return list(self.answers.get(student, ()))

    def learning(self, student: str) -> Learning:
        """The student's state (shared: callers read it, never apply to it)."""
        learning = self._folded.get(student)
        if learning is None:
            learning = self._folded[student] = fold(self.model, self.answers.get(student, []), self.clear_interval_days)
        return learning

    def fresh(self, student: str) -> Learning:
        """A private copy of the student's state, for a grading to step forward before it is stored."""
        return fold(self.model, self.answers.get(student, []), self.clear_interval_days)

    def mastery(self, student: str) -> dict[str, float]:
        return self.learning(student).mastery


@dataclass
class Profiles:
    """Learning profiles by user; a profile set earlier than the one held is ignored (events may repeat or come
    after this replica's own write)."""

    profiles: dict[str, tuple[datetime, Profile]] = field(default_factory=dict)

    def set(self, user: str, profile: Profile, at: datetime) -> None:
        held = self.profiles.get(user)
        if held is None or held[0] <= at:
            self.profiles[user] = (at, profile)

    def get(self, user: str) -> Profile | None:
        held = self.profiles.get(user)
        return None if held is None else held[1]
