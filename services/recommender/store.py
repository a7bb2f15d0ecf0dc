"""All of the recommender's queries and document mapping.

- ``answers``: one document per submission (``_id = "<student>:<submission id>"``: the client's id makes a retry
  land on the same document, and the unique insert is the idempotency check), with its graded items and, as an
  outbox source, the events the grading raised (``common.outbox``). Never updated.
- ``finished``: ``_id = "<user>:<resource>"`` for every resource a user finished (watched to the end). Insert
  only, so every replica may record the same finish (a duplicate insert is a no-op). Heartbeats stay on Kafka only
  a week; this keeps "never recommend what was finished" true after they are gone. Loaded whole at start.
- ``profiles``: a user's learning profile (grade, textbook versions, subjects, province), written only by that
  user, with its ``profile.set`` event (outbox source, updated in place): every replica holds the profiles in
  memory from ``recommender.profiles.v1``.

No request reads a collection here: every replica holds the answers, finishes and profiles in memory (loaded by
one scan at start, then kept current from the service's own topics). What is left are the unique inserts, a
retried submission's read by ``_id`` and a profile's read of its own unpublished events (each a scan on
FerretDB, docs/ARCHITECTURE.md; an index lookup on MongoDB).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Any

from pymongo import IndexModel
from pymongo.asynchronous.database import AsyncDatabase

from common.outbox import Change, Outbox
from common.store import Store, insert_new
from recommender.domain.notebook import GradedAnswer
from recommender.domain.profile import Profile

ANSWERS, FINISHED, PROFILES = "answers", "finished", "profiles"


class SubmissionTaken(Exception):
    """A submission with this id exists already (a retry, or another request with the same id)."""


def submission_id(student: str, client_id: str) -> str:
    return f"{student}:{client_id}"


class RecommenderStore:
    def __init__(self, db: AsyncDatabase) -> None:
        self.answers = db[ANSWERS]
        self.finished = db[FINISHED]
        self.profiles = db[PROFILES]

    @staticmethod
    def declare(store: Store, outbox: Outbox) -> None:
        store.declare_indexes(ANSWERS, [IndexModel([("student", 1)])])
        outbox.source(ANSWERS, field="events", projection=())
        outbox.source(PROFILES, field="events", projection=())

    # --- answers -----------------------------------------------------------------------------------------
    async def add_submission(
        self,
        student: str,
        client_id: str,
        digest: str,
        answers: list[GradedAnswer],
        change: Change,
    ) -> None:
        """Insert the graded submission with its events; :class:`SubmissionTaken` if the id is used."""
        sid = submission_id(student, client_id)
        doc = {
            "_id": sid,
            "student": student,
            "digest": digest,
            "at": answers[0].at,
            "items": [
                {
                    "a": a.answer_id,
                    "e": a.exercise_id,
                    "v": a.exercise_version,
                    "s": a.subject,
                    "k": list(a.knowledge_points),
                    "c": a.correct,
                    "t": a.at,
                }
                for a in answers
            ],
            "events": change.entries(sid),
        }
        if await insert_new(self.answers, [doc]):
            raise SubmissionTaken(sid)

    async def submission(self, student: str, client_id: str) -> tuple[str, list[GradedAnswer]] | None:
        doc = await self.answers.find_one({"_id": submission_id(student, client_id)}, {"events": 0})
        return None if doc is None else (doc["digest"], _answers_of(doc))

    async def scan_answers(self) -> AsyncIterator[tuple[str, list[GradedAnswer]]]:
        """Every submission's answers, for a replica's warm-up (one pass at start, never per request)."""
        async for doc in self.answers.find({}, {"events": 0}):
            yield doc["student"], _answers_of(doc)

    # --- finished resources ------------------------------------------------------------------------------
    async def add_finished(self, pairs: list[tuple[str, str, datetime]]) -> None:
        await insert_new(self.finished, [{"_id": f"{u}:{r}", "u": u, "r": r, "at": at} for u, r, at in pairs])

    async def scan_finished(self) -> AsyncIterator[tuple[str, str]]:
        async for doc in self.finished.find({}, {"u": 1, "r": 1}):
            yield doc["u"], doc["r"]

    # --- profiles ----------------------------------------------------------------------------------------
    async def unpublished_profile_events(self, user: str, outbox: Outbox) -> list[dict[str, Any]]:
        """Events of the user's earlier profile changes not yet published: the next write keeps them."""
        doc = await self.profiles.find_one({"_id": user}, {"events": 1})
        return await outbox.unpublished(doc.get("events", ()) if doc else ())

    async def save_profile(
        self, user: str, profile: Profile, at: datetime, pending: Sequence[dict[str, Any]], change: Change
    ) -> None:
        doc = {**profile.model_dump(mode="json"), "set_at": at, "events": [*pending, *change.entries(user)]}
        await self.profiles.replace_one({"_id": user}, doc, upsert=True)


def _answers_of(doc: dict[str, Any]) -> list[GradedAnswer]:
    # the driver's UTC is bson's own tzinfo; FSRS accepts only datetime.UTC
    return [
        GradedAnswer(i["a"], i["e"], i["v"], i["s"], tuple(i["k"]), i["c"], i["t"].astimezone(UTC))
        for i in doc.get("items", ())
    ]
