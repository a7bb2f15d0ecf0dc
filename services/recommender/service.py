"""The recommender's handlers for answers, the mistake notebook and teachers' figures. Plain functions of the
state they are given: the exercise bank, every student's answers and the classes (kept in memory from events by
``consumers.py``), and the store, which only a submission writes (a notebook or a figure reads no store)."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from common.auth import Principal
from common.contracts.recommender import AnswerGraded, MasteryChanged
from common.errors import Conflict, Forbidden, Invalid
from common.outbox import Outbox
from recommender.domain.classes import Classes
from recommender.domain.exercises import ExerciseBank, Response, grade, revealed
from recommender.domain.learners import Learners
from recommender.domain.notebook import GradedAnswer, most_missed, notebook_view
from recommender.store import ANSWERS, RecommenderStore, SubmissionTaken, submission_id

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


class LearningService:
    def __init__(
        self,
        store: RecommenderStore,
        outbox: Outbox,
        bank: ExerciseBank,
        learners: Learners,
        classes: Classes,
        clock: Clock = utcnow,
    ) -> None:
        self.store, self.outbox, self.bank, self.learners, self.classes = store, outbox, bank, learners, classes
        self.clock = clock
        self._locks: dict[str, asyncio.Lock] = {}

    # --- from the store and events -------------------------------------------------------------------------
    async def load_answers(self) -> int:
        """Warm-up: every stored answer (the topic keeps 90 days; the store keeps them all)."""
        n = 0
        async for student, answers in self.store.scan_answers():
            n += self.learners.add(student, answers)
        return n

    def apply_graded(self, events: list[AnswerGraded]) -> None:
        """Answers graded by any replica (this one's own come back too; an answer id is applied once)."""
        for e in events:
            self.learners.add(
                e.student_id,
                [
                    GradedAnswer(
                        e.answer_id,
                        e.exercise_id,
                        e.exercise_version,
                        e.subject_code,
                        tuple(e.knowledge_points),
                        e.correct,
                        e.graded_at,
                    )
                ],
            )

    async def submit(self, who: Principal, client_id: str, responses: list[Response]) -> tuple[dict[str, Any], bool]:
        """Grade a submission (one answer or a homework batch) and store it with its events. A retry with the
        same id and the same responses answers the stored grading; other responses under a used id: 409. Returns
        the answer and whether it was graded now (False for a retry, which the answers figure must not count)."""
        student = who.subject
        digest = _digest(responses)
        graded = self._grade(student, client_id, responses)
        fresh = True
        lock = self._locks.setdefault(student, asyncio.Lock())
        async with lock:  # one student's submissions in order in this process: mastery steps from the latest
            try:
                learning = self.learners.fresh(student)  # a private copy: nothing moves unless it is stored
                events: list[Any] = []
                for answer in graded:
                    steps = learning.apply(answer)
                    events.append(_graded_event(student, answer))
                    events += [
                        _mastery_event(student, answer, s) for s in steps if round(s.after, 4) != round(s.before, 4)
                    ]
                sid = submission_id(student, client_id)
                change = self.outbox.change(ANSWERS, {sid: events}, abandon_on=(SubmissionTaken,))
                async with change:
                    await self.store.add_submission(student, client_id, digest, graded, change)
                self.learners.add(student, graded)  # read-your-writes; the event brings it to the other replicas
            except SubmissionTaken:
                stored = await self.store.submission(student, client_id)
                if stored is None or stored[0] != digest:
                    raise Conflict(
                        f"submission {client_id} was already sent with other answers", code="submission-reused"
                    ) from None
                graded, fresh = stored[1], False
        return {"submission_id": client_id, "results": [self._result(a) for a in graded]}, fresh

    def _grade(self, student: str, client_id: str, responses: list[Response]) -> list[GradedAnswer]:
        now = self.clock()
        # to the millisecond, as the store keeps it: a retry answers the stored time, and every replica folds the
        # same times whether it read the answer from the store, the topic or its own grading
        now = now.replace(microsecond=now.microsecond // 1000 * 1000)
        graded, problems = [], []
        for i, r in enumerate(responses):
            ex = self.bank.get(r.exercise_id)
            if ex is None or not self.bank.offered(r.exercise_id):
                problems.append(
                    {
                        "field": f"answers.{i}.exercise_id",
                        "message": f"no exercise {r.exercise_id}",
                        "code": "exercise-not-found",
                    }
                )
                continue
            correct = grade(ex, r)
            if correct is None:
                problems.append(
                    {
                        "field": f"answers.{i}",
                        "message": f"the response does not fit a {ex.item_type} item",
                        "code": "response-mismatch",
                    }
                )
                continue
            graded.append(
                GradedAnswer(
                    f"{submission_id(student, client_id)}:{ex.id}",
                    ex.id,
                    ex.version,
                    ex.place.subject,
                    tuple(ex.knowledge_points),
                    correct,
                    now,
                )
            )
        if len({r.exercise_id for r in responses}) != len(responses):
            problems.append({"field": "answers", "message": "an exercise is answered twice", "code": "duplicate"})
        if problems:
            first = problems[0]
            raise Invalid(
                f"{len(problems)} answer(s) cannot be graded; nothing was stored",
                code=first["code"],
                field=first["field"],
                invalid=problems,
            )
        return graded

    def _result(self, a: GradedAnswer) -> dict[str, Any]:
        ex = self.bank.get(a.exercise_id)
        shown = revealed(ex) if ex is not None else None
        return {
            "exercise_id": a.exercise_id,
            "correct": a.correct,
            "answer_key": shown["answer_key"] if shown else None,
            "explanation": shown["explanation"] if shown else None,
            "knowledge_points": list(a.knowledge_points),
            "graded_at": a.at,
        }

    def notebook(self, who: Principal) -> dict[str, Any]:
        return notebook_view(self.learners.learning(who.subject), self.bank, self.clock())

    def most_missed(self, who: Principal, class_id: str | None, limit: int) -> dict[str, Any]:
        """The most-missed knowledge points among the students of the classes the teacher teaches (class groups'
        events say who teaches and who is in a class), or of one of them."""
        mine = self.classes.taught_by(who.subject)
        if class_id is not None and class_id not in mine:
            raise Forbidden("you do not teach that class", code="not-your-class")
        scope = sorted([class_id] if class_id else mine)
        answers: list[GradedAnswer] = []
        students: dict[str, str] = {}
        for student in sorted({m for cid in scope for m in self.classes.members_of(cid)}):
            for a in self.learners.answers_of(student):
                answers.append(a)
                students[a.answer_id] = student
        return {"classes": scope, "knowledge_points": most_missed(answers, students, limit)}


def _digest(responses: list[Response]) -> str:
    body = "\n".join(r.model_dump_json() for r in responses)
    return hashlib.sha256(body.encode()).hexdigest()


def _graded_event(student: str, a: GradedAnswer) -> AnswerGraded:
    return AnswerGraded(
        answer_id=a.answer_id,
        student_id=student,
        exercise_id=a.exercise_id,
        exercise_version=a.exercise_version,
        subject_code=a.subject,
        knowledge_points=list(a.knowledge_points),
        correct=a.correct,
        graded_at=a.at,
    )


def _mastery_event(student: str, a: GradedAnswer, step: Any) -> MasteryChanged:
    return MasteryChanged(
        student_id=student,
        knowledge_point=step.knowledge_point,
        before=round(step.before, 6),
        after=round(step.after, 6),
        answer_id=a.answer_id,
        changed_at=a.at,
    )
