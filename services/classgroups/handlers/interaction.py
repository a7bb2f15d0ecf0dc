"""Handlers of classroom interaction (课堂互动): roll call and quick polls (see
:mod:`classgroups.domain.interaction`)."""

from __future__ import annotations

from typing import Any

from classgroups import access as rel
from classgroups.access import Caller, ClassAccess
from classgroups.domain import interaction as domain
from classgroups.domain.interaction import Poll
from classgroups.domain.leaves import beijing_today
from classgroups.handlers import fresh, now
from classgroups.store import ClassGroupsStore
from common.errors import Conflict, NotFound


class Interaction:
    def __init__(self, store: ClassGroupsStore, access: ClassAccess) -> None:
        self.store, self.access = store, access

    async def roll_call(self, caller: Caller, class_id: str) -> dict[str, Any]:
        await self.access.require_administrative(caller, class_id, {rel.TEACHER})
        at = now()
        away = {
            x.student
            for x in await self.store.leaves.leaves(class_id=class_id, on=beijing_today(at), status="approved")
        }
        present = [m.account_id for m in await self.store.classes.members(class_id) if m.account_id not in away]
        if not present:
            raise Conflict("Nobody is present to call.", code="nobody_present")
        for _ in range(3):  # another screen may claim the same round's students meanwhile: read again
            calls = await self.store.interaction.calls(class_id)
            current = max((r for r, _ in calls), default=1)
            called = {s for r, s in calls if r == current}
            round_, candidates = domain.pick(present, called, current)
            for student in candidates:
                event = domain.called(class_id, round_, student, caller.id, at)
                if await self.store.interaction.call(class_id, round_, student, caller.id, at, event):
                    done = (called if round_ == current else set()) | {student}
                    left = len([s for s in present if s not in done])
                    return {"student_id": student, "round": round_, "not_yet_called": left}
        raise Conflict("Roll call is busy; try again.", code="busy")

    async def open_poll(
        self, caller: Caller, class_id: str, question: str, options: list[str], multiple: bool, anonymous: bool
    ) -> Poll:
        await self.access.require_administrative(caller, class_id, {rel.TEACHER})
        poll = domain.new_poll(class_id, caller.id, question, options, multiple, anonymous, now())
        await self.store.interaction.add_poll(poll, [domain.opened(poll)])
        return poll

    async def vote(self, caller: Caller, class_id: str, poll_id: str, choices: list[int]) -> None:
        await self.access.require_administrative(caller, class_id, {rel.MEMBER})
        poll = await self._of_class(class_id, poll_id)
        ballot = domain.check_vote(poll, choices)
        if not await self.store.interaction.vote(poll, poll.voter_key(caller.id), ballot, now()):
            raise Conflict("You have voted already.", code="voted")

    async def results(self, caller: Caller, class_id: str, poll_id: str) -> tuple[Poll, dict[str, Any]]:
        """Live while open: the class's teachers and students see the counts; teachers also see who chose what
        (unless anonymous)."""
        standing = await self.access.require_administrative(caller, class_id, {rel.TEACHER, rel.MEMBER})
        poll = await self._of_class(class_id, poll_id)
        votes = await self.store.interaction.votes(poll_id)
        return poll, domain.results(poll, votes, with_voters=rel.TEACHER in standing.relations)

    async def close(self, caller: Caller, class_id: str, poll_id: str) -> Poll:
        await self.access.require_administrative(caller, class_id, {rel.TEACHER})
        poll = await self._of_class(class_id, poll_id)
        votes = await self.store.interaction.votes(poll_id)
        after, events = domain.close(poll, votes, caller.id, now())
        with fresh("poll"):
            await self.store.interaction.save_poll(poll, after, events)  # type: ignore[arg-type]
        return after

    async def _of_class(self, class_id: str, poll_id: str) -> Poll:
        poll = await self.store.interaction.poll(poll_id)
        if poll is None or poll.class_id != class_id:
            raise NotFound("No such poll in this class.", code="poll_not_found")
        return poll
