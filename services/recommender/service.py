"""The recommender's handlers for answers, the mistake notebook and teachers' figures. Plain functions of the
state they are given: the exercise bank and people (kept from events by ``consumers.py``) and the store."""

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
from recommender.domain.bkt import BktModel
from recommender.domain.exercises import ExerciseBank, Response, grade, revealed
from recommender.domain.notebook import GradedAnswer, fold, most_missed, notebook_view
from recommender.domain.people import SCHOOL_ROLES, People
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
        people: People,
        model: BktModel,
        clear_interval_days: float,
        clock: Clock = utcnow,
    ) -> None:
        self.store, self.outbox, self.bank, self.people, self.model = store, outbox, bank, people, model
        self.clear_interval_days = clear_interval_days
        self.clock = clock
        self._locks: dict[str, asyncio.Lock] = {}

    def schools(self, who: Principal) -> list[str]:
        """Schools from identity's events, and from the token's school roles (the events may lag a fresh grant)."""
        from_token = {r.org for r in who.roles if r.name in SCHOOL_ROLES and r.org}
        return sorted(self.people.schools_of(who.subject) | from_token)

    async def submit(self, who: Principal, client_id: str, responses: list[Response]) -> dict[str, Any]:
        """Grade a submission (one answer or a homework batch) and store it with its events. A retry with the
        same id and the same responses answers the stored grading; other responses under a used id: 409."""
        student = who.subject
        digest = _digest(responses)
        graded = self._grade(student, client_id, responses)
        lock = self._locks.setdefault(student, asyncio.Lock())
        async with lock:  # one student's submissions in order in this process: mastery steps from the latest
            try:
                learning = fold(self.model, await self.store.answers_of(student), self.clear_interval_days)
                events: list[Any] = []
                for answer in graded:
                    steps = learning.apply(answer)
                    events.append(_graded_event(student, answer))
                    events += [
                        _mastery_event(student, answer, s) for s in steps if round(s.after, 4) != round(s.before, 4)
                    ]
                sid = submission_id(student, client_id)
                schools = self.schools(who)
                change = self.outbox.change(ANSWERS, {sid: events}, abandon_on=(SubmissionTaken,))
                async with change:
                    await self.store.add_submission(
                        student, client_id, schools[0] if schools else None, digest, graded, change
                    )
            except SubmissionTaken:
                stored = await self.store.submission(student, client_id)
                if stored is None or stored[0] != digest:
                    raise Conflict(
                        f"submission {client_id} was already sent with other answers", code="submission-reused"
                    ) from None
                graded = stored[1]
        return {"submission_id": client_id, "results": [self._result(a) for a in graded]}

    def _grade(self, student: str, client_id: str, responses: list[Response]) -> list[GradedAnswer]:
        now = self.clock()
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

    async def notebook(self, who: Principal) -> dict[str, Any]:
        learning = fold(self.model, await self.store.answers_of(who.subject), self.clear_interval_days)
        return notebook_view(learning, self.bank, self.clock())

    async def mastery(self, student: str) -> dict[str, float]:
        learning = fold(self.model, await self.store.answers_of(student), self.clear_interval_days)
        return learning.mastery

    async def most_missed(self, who: Principal, school: str | None, limit: int) -> dict[str, Any]:
        """The most-missed knowledge points among the students of the teacher's schools (classes when class
        groups publish them)."""
        mine = self.schools(who)
        if school is not None and school not in mine:
            raise Forbidden("you do not teach at that school", code="not-your-school")
        scope = [school] if school else mine
        if not scope:
            return {"schools": [], "knowledge_points": []}
        answers, students = await self.store.answers_in(scope)
        return {"schools": scope, "knowledge_points": most_missed(answers, students, limit)}


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
