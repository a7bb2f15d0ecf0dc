"""Classroom interaction (课堂互动), administrative classes: roll call and quick polls, used while teaching.

**Roll call (随机点名)**: a random student among those present (on the roster and not on approved leave today),
never one already called in the current round; when everyone present has been called, a new round begins. A call
is a unique insert of ``<class>:<round>:<student>``, so two teachers' screens calling at once never get the same
student twice in a round.

**Quick polls (投票)**: a question with 2–10 options, single or multiple choice, optionally anonymous; each student
votes once (a unique insert per voter); results are live while the poll is open and final once closed. An
anonymous poll stores a keyed hash of the voter, never the id, so not even the store says who voted what.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass, replace
from datetime import datetime

from common.contracts.classgroups import PollClosed, PollOpened, RollCalled
from common.errors import Conflict, Invalid

MAX_OPTIONS = 10


def pick(present: list[str], called_this_round: set[str], round_: int) -> tuple[int, list[str]]:
    """The round to call in and its candidates, in random order (the store inserts the first it can claim)."""
    candidates = [s for s in present if s not in called_this_round]
    if not candidates:
        round_, candidates = round_ + 1, list(present)
    shuffled = sorted(candidates, key=lambda _: secrets.randbits(32))
    return round_, shuffled


@dataclass(frozen=True)
class Poll:
    id: str
    class_id: str
    author: str
    question: str
    options: tuple[str, ...]
    multiple: bool
    anonymous: bool
    open: bool
    at: datetime
    salt: str
    version: int = 1

    def voter_key(self, student: str) -> str:
        """Who voted, as stored: the id, or for an anonymous poll a hash keyed by the poll's own salt."""
        if not self.anonymous:
            return student
        return hashlib.sha256(f"{self.salt}:{student}".encode()).hexdigest()[:32]


def new_poll(
    class_id: str, author: str, question: str, options: list[str], multiple: bool, anonymous: bool, at: datetime
) -> Poll:
    cleaned = [o.strip() for o in options]
    if len(set(cleaned)) != len(cleaned) or any(not o for o in cleaned):
        raise Invalid("Options must be distinct and not blank.", code="bad_options", field="options")
    return Poll(
        f"poll-{uuid.uuid4().hex[:16]}",
        class_id,
        author,
        question,
        tuple(cleaned),
        multiple,
        anonymous,
        True,
        at,
        secrets.token_hex(16),
    )


def opened(poll: Poll) -> PollOpened:
    return PollOpened(
        class_id=poll.class_id,
        occurred_at=poll.at,
        poll_id=poll.id,
        options=len(poll.options),
        multiple=poll.multiple,
        anonymous=poll.anonymous,
        by=poll.author,
    )


def called(class_id: str, round_: int, student: str, by: str, at: datetime) -> RollCalled:
    return RollCalled(class_id=class_id, occurred_at=at, round=round_, student_id=student, by=by)


def check_vote(poll: Poll, choices: list[int]) -> list[int]:
    if not poll.open:
        raise Conflict("The poll is closed.", code="closed")
    if not choices or len(set(choices)) != len(choices):
        raise Invalid("Choose at least one option, each once.", code="bad_choices", field="choices")
    if not poll.multiple and len(choices) > 1:
        raise Invalid("This poll takes one choice.", code="single_choice", field="choices")
    if any(not 0 <= c < len(poll.options) for c in choices):
        raise Invalid("No such option.", code="bad_choices", field="choices")
    return sorted(choices)


def close(poll: Poll, votes: list[tuple[str, list[int]]], by: str, at: datetime) -> tuple[Poll, list[object]]:
    """The poll closed, and its event with the final counts (never who voted what)."""
    if not poll.open:
        raise Conflict("The poll is closed already.", code="closed")
    counts = _counts(poll, votes)
    event = PollClosed(class_id=poll.class_id, occurred_at=at, poll_id=poll.id, votes=counts, voters=len(votes), by=by)
    return replace(poll, open=False, version=poll.version + 1), [event]


def _counts(poll: Poll, votes: list[tuple[str, list[int]]]) -> list[int]:
    counts = [0] * len(poll.options)
    for _, choices in votes:
        for c in choices:
            counts[c] += 1
    return counts


def results(poll: Poll, votes: list[tuple[str, list[int]]], *, with_voters: bool) -> dict[str, object]:
    counts = _counts(poll, votes)
    out: dict[str, object] = {
        "options": [{"option": o, "votes": n} for o, n in zip(poll.options, counts, strict=True)],
        "voters": len(votes),
    }
    if with_voters and not poll.anonymous:
        out["ballots"] = [{"student_id": v, "choices": c} for v, c in votes]
    return out
