"""Handlers of online classes (网络班): creation by verified teachers, join codes (rate-limited guessing),
invitations, approval, leaving, transfer of ownership."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from classgroups import access as rel
from classgroups.access import Caller, ClassAccess
from classgroups.domain import classes as domain
from classgroups.domain import codes
from classgroups.domain.classes import ClassGroup, Membership
from classgroups.domain.codes import ClassCode
from classgroups.handlers import fresh, now
from classgroups.settings import ClassGroupsSettings
from classgroups.store import ClassGroupsStore
from common.errors import Conflict, Limited


class OnlineClasses:
    def __init__(self, store: ClassGroupsStore, access: ClassAccess, settings: ClassGroupsSettings) -> None:
        self.store, self.access, self.settings = store, access, settings

    async def create(self, caller: Caller, *, name: str, approval_required: bool) -> ClassGroup:
        owner = await self.access.account(caller)
        cls, events = domain.create_online(name=name, owner=owner, approval_required=approval_required, at=now())
        await self.store.classes.create_class(cls, events)
        return cls

    async def transfer(self, caller: Caller, class_id: str, to: str) -> ClassGroup:
        standing = await self.access.require(caller, class_id, {rel.OWNER})
        after, events = domain.transfer(standing.cls, await self.store.directory.account(to), now())
        with fresh("class"):
            await self.store.classes.save_class(standing.cls, after, events)  # type: ignore[arg-type]
        return after

    # --- codes -------------------------------------------------------------------------------------------
    async def issue_code(self, caller: Caller, class_id: str, ttl_hours: int | None) -> ClassCode:
        standing = await self.access.require(caller, class_id, {rel.OWNER})
        if standing.cls.administrative:
            raise Conflict("Administrative classes are rostered by the school.", code="not_online")
        ttl = timedelta(hours=min(ttl_hours or self.settings.code_ttl_hours, self.settings.code_ttl_hours))
        while True:  # a collision with a live code (1 in 10^11 per live code) draws again
            code = ClassCode.issue(class_id, caller.id, now(), ttl)
            if await self.store.codes.put_code(code):
                return code

    async def revoke_code(self, caller: Caller, class_id: str, code: str) -> None:
        await self.access.require(caller, class_id, {rel.OWNER})
        if not await self.store.codes.revoke_code(class_id, codes.normalise(code)):
            raise codes.unknown_code()

    async def join_by_code(self, caller: Caller, typed: str) -> Membership:
        """Each attempt takes one of the caller's failure slots first (an insert: parallel guesses cannot pass
        the cap); a successful join gives it back. Every failure (unknown, revoked, malformed or expired code)
        answers alike, so a code reveals nothing but its own class."""
        t = time.time()
        window = self.settings.code_failure_window_seconds
        counter = f"code-fail:{caller.id}:{int(t // window)}"
        expires = datetime.fromtimestamp((int(t // window) + 1) * window, UTC)
        slot = await self.store.codes.claim_slot(counter, self.settings.code_max_failures, expires)
        if slot is None:
            retry = int((int(t // window) + 1) * window - t) + 1
            raise Limited("Too many wrong class codes; try again later.", code="too_many_attempts", retry_after=retry)
        code = codes.normalise(typed)
        found = await self.store.codes.code(code) if codes.PATTERN.match(code) else None
        if found is None:
            raise codes.unknown_code()
        class_id = found.redeem(now())
        cls = await self.store.classes.get_class(class_id)
        if cls is None:
            raise codes.unknown_code()
        account = await self.access.account(caller)
        membership = await self._move(cls, caller.id, lambda m: domain.join(cls, account, m, "code", now()))
        await self.store.codes.release_slot(counter, slot)
        return membership

    # --- invitations, approvals, leaving ----------------------------------------------------------------
    async def invite(self, caller: Caller, class_id: str, account_id: str) -> Membership:
        standing = await self.access.require(caller, class_id, {rel.OWNER})
        student = await self.store.directory.account(account_id)
        return await self._move(
            standing.cls, account_id, lambda m: domain.invite(standing.cls, student, m, caller.id, now())
        )

    async def answer(self, caller: Caller, class_id: str, accept: bool) -> Membership:
        standing = await self.access.require(caller, class_id, {rel.INVITED})
        return await self._move(
            standing.cls, caller.id, lambda m: domain.answer_invitation(standing.cls, m, accept, now())
        )

    async def decide(self, caller: Caller, class_id: str, account_id: str, approve: bool) -> Membership:
        standing = await self.access.require(caller, class_id, {rel.OWNER})
        return await self._move(
            standing.cls, account_id, lambda m: domain.decide(standing.cls, m, approve, caller.id, now())
        )

    async def leave(self, caller: Caller, class_id: str) -> Membership:
        standing = await self.access.require(caller, class_id, {rel.MEMBER})
        return await self._move(standing.cls, caller.id, lambda m: domain.leave(standing.cls, m, caller.id, now()))

    async def _move(
        self, cls: ClassGroup, account_id: str, step: Callable[[Membership | None], Membership]
    ) -> Membership:
        current = await self.store.classes.membership(cls.id, account_id)
        after = step(current)
        with fresh("membership"):
            await self.store.classes.save_membership(current, after)
        return after
