"""A student's learning state, folded from their graded answers in time order: mastery per knowledge point (BKT),
the mistake notebook (错题本) and its spaced reviews (FSRS).

- Mastery: :func:`recommender.domain.bkt.update` per knowledge point of each answered exercise.
- The notebook files a wrong answer under each knowledge point of the exercise (and so by subject). Each
  knowledge point in the notebook has an FSRS card: a wrong answer reviews it ``Again``; a right answer to that
  knowledge point (the same exercise or a similar one) given when the card is due reviews it ``Good``; a right
  answer before it is due is practice, not a spaced review, and changes no schedule. The knowledge point, with its
  exercises, leaves the notebook once FSRS graduates the card to the Review state with a next interval of at
  least ``clear_interval_days`` (7 by default: with FSRS 6's default parameters that is right answers on the
  reviews due 1 minute, 10 minutes, 1 day and 2 days after the mistake). A later wrong answer files it again.
- Folding is deterministic (FSRS fuzzing off), so every replica computes the same state from the same answers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from fsrs import Card, Rating, Scheduler, State

from recommender.domain.bkt import BktModel, update
from recommender.domain.exercises import ExerciseBank, public, revealed

SCHEDULER = Scheduler(enable_fuzzing=False)
MASTERED = 0.95  # BKT's usual threshold: an exercise of knowledge points all above it is "mastered"


@dataclass(frozen=True)
class GradedAnswer:
    answer_id: str
    exercise_id: str
    exercise_version: int
    subject: str
    knowledge_points: tuple[str, ...]
    correct: bool
    at: datetime


@dataclass
class NotebookPoint:
    """One knowledge point in the notebook: its card and the exercises answered wrong under it."""

    knowledge_point: str
    subject: str
    card: Card
    exercises: dict[str, int] = field(default_factory=dict)  # exercise id → wrong answers while filed
    last_wrong_at: datetime | None = None
    reviews: int = 0


@dataclass
class MasteryStep:
    knowledge_point: str
    before: float
    after: float


@dataclass
class Learning:
    """A student's state; :meth:`apply` each answer in time order."""

    model: BktModel
    clear_interval_days: float = 7.0
    mastery: dict[str, float] = field(default_factory=dict)
    answered: set[str] = field(default_factory=set)
    right: set[str] = field(default_factory=set)
    notebook: dict[str, NotebookPoint] = field(default_factory=dict)
    cleared: dict[str, datetime] = field(default_factory=dict)  # knowledge point → when it left the notebook

    def estimate(self, kp: str) -> float:
        return self.mastery.get(kp, self.model.of(kp).prior)

    def apply(self, answer: GradedAnswer) -> list[MasteryStep]:
        steps = []
        for kp in answer.knowledge_points:
            before = self.estimate(kp)
            after = update(before, answer.correct, self.model.of(kp))
            self.mastery[kp] = after
            steps.append(MasteryStep(kp, before, after))
        self.answered.add(answer.exercise_id)
        if answer.correct:
            self.right.add(answer.exercise_id)
        for kp in answer.knowledge_points:
            self._file(kp, answer)
        return steps

    def _file(self, kp: str, answer: GradedAnswer) -> None:
        point = self.notebook.get(kp)
        if not answer.correct:
            if point is None:
                point = NotebookPoint(kp, answer.subject, Card(card_id=1, due=answer.at))
                self.notebook[kp] = point
                self.cleared.pop(kp, None)
            point.card, _ = SCHEDULER.review_card(point.card, Rating.Again, answer.at)
            point.exercises[answer.exercise_id] = point.exercises.get(answer.exercise_id, 0) + 1
            point.last_wrong_at = answer.at
            point.reviews += 1
            return
        if point is None or answer.at < point.card.due:
            return  # not in the notebook, or practice before the review is due
        point.card, _ = SCHEDULER.review_card(point.card, Rating.Good, answer.at)
        point.reviews += 1
        interval = point.card.due - answer.at
        if point.card.state == State.Review and interval >= timedelta(days=self.clear_interval_days):
            del self.notebook[kp]
            self.cleared[kp] = answer.at

    def mastered(self, kps: tuple[str, ...] | list[str]) -> bool:
        return bool(kps) and all(self.estimate(kp) >= MASTERED for kp in kps)


def fold(model: BktModel, answers: list[GradedAnswer], clear_interval_days: float = 7.0) -> Learning:
    learning = Learning(model, clear_interval_days)
    for a in sorted(answers, key=lambda a: (a.at, a.answer_id)):
        learning.apply(a)
    return learning


def target_difficulty(mastery: float) -> int:
    """Difficulty 1-5 to practise at: a little above what the estimate says the student masters."""
    return max(1, min(5, round(1 + 4 * mastery + 0.5)))


def similar_exercises(learning: Learning, bank: ExerciseBank, kp: str, limit: int = 3) -> list[dict[str, Any]]:
    """Same knowledge point, not yet done, nearest the target difficulty first."""
    target = target_difficulty(learning.estimate(kp))
    fresh = [e for e in bank.of_kp(kp) if e.id not in learning.answered]
    fresh.sort(key=lambda e: (abs(e.difficulty - target), e.difficulty, e.id))
    return [
        {
            **public(e),
            "reason": f"same knowledge point {kp}, difficulty {e.difficulty} for mastery {learning.estimate(kp):.2f}",
        }
        for e in fresh[:limit]
    ]


def notebook_view(learning: Learning, bank: ExerciseBank, now: datetime) -> dict[str, Any]:
    """The notebook by subject, then knowledge point (most wrong first); each exercise as the student may see
    it: with its key and explanation only once they have answered it right."""
    subjects: dict[str, list[dict[str, Any]]] = {}
    for kp, point in learning.notebook.items():
        exercises = []
        for eid, wrong in sorted(point.exercises.items(), key=lambda x: (-x[1], x[0])):
            snap = bank.get(eid)
            if snap is None:
                continue
            shown = revealed(snap) if eid in learning.right else public(snap)
            exercises.append({"exercise": shown, "wrong_count": wrong, "withdrawn": not bank.offered(eid)})
        subjects.setdefault(point.subject, []).append(
            {
                "knowledge_point": kp,
                "mastery": round(learning.estimate(kp), 4),
                "wrong_count": sum(point.exercises.values()),
                "last_wrong_at": point.last_wrong_at,
                "next_review_at": point.card.due,
                "review_due": point.card.due <= now,
                "exercises": exercises,
                "similar_exercises": similar_exercises(learning, bank, kp),
            }
        )
    for points in subjects.values():
        points.sort(key=lambda p: (-p["wrong_count"], p["knowledge_point"]))
    return {
        "subjects": [{"subject": s, "knowledge_points": p} for s, p in sorted(subjects.items())],
        "mastery": {kp: round(p, 4) for kp, p in sorted(learning.mastery.items())},
    }


def most_missed(answers: list[GradedAnswer], students_of: dict[str, str], limit: int = 10) -> list[dict[str, Any]]:
    """A teacher's figure: knowledge points by wrong answers among the students, with how many students missed
    each and the share of wrong answers. ``students_of``: answer id → student id (ids only, no names)."""
    wrong: dict[str, int] = {}
    total: dict[str, int] = {}
    who: dict[str, set[str]] = {}
    subject: dict[str, str] = {}
    for a in answers:
        for kp in a.knowledge_points:
            total[kp] = total.get(kp, 0) + 1
            subject[kp] = a.subject
            if not a.correct:
                wrong[kp] = wrong.get(kp, 0) + 1
                who.setdefault(kp, set()).add(students_of[a.answer_id])
    ranked = sorted(wrong, key=lambda kp: (-wrong[kp], -len(who[kp]), kp))[:limit]
    return [
        {
            "knowledge_point": kp,
            "subject": subject[kp],
            "wrong_answers": wrong[kp],
            "students_wrong": len(who[kp]),
            "wrong_share": round(wrong[kp] / total[kp], 4),
        }
        for kp in ranked
    ]
