"""What class groups do when identity deactivates an account (``UserDeactivated`` on ``identity.users.v1``;
identity has no reactivation).

Decided: memberships are **removed**, not frozen. A deactivated student's memberships, open invitations and join
requests end (``member.left.v1``, reason ``removed``, ``by`` whoever deactivated it), and the student's place in
an administrative class is freed (the one-class-per-school-year claim); its studio memberships and applications
end (``studio.member.left.v1``, reason ``deactivated``). One event per membership changed. Freezing would keep
rosters, leaderboards and roll calls full of someone who can never sign in again.

A teacher who **owns an online class**: the class stays, with its students and their work (they did nothing
wrong, and the history belongs to the class), but its join codes are revoked at once, so no one joins a class
nobody runs; members may still leave. A teacher of an administrative class stays named on it until the school's
admins name another (``PUT /v1/classes/{id}/teachers``): rostering is the school's. A studio's leader: the studio
stays public with its resources; nobody can approve newcomers or schedule.

Idempotent: it runs before the directory writes the account, so a crash in between redoes it on redelivery, and
a membership already ended is left as it is.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from classgroups.domain import classes, studios
from classgroups.handlers import now
from classgroups.store import ClassGroupsStore, Stale

log = logging.getLogger("classgroups.deactivation")
ATTEMPTS = 3  # a membership changed meanwhile (an approval racing the deactivation): read it again


class Deactivation:
    def __init__(self, store: ClassGroupsStore) -> None:
        self.store = store

    async def __call__(self, account_id: str, by: str) -> int:
        """How many memberships (classes and studios) ended."""
        ended = 0
        for m in await self.store.classes.open_memberships_of(account_id):
            cls = await self.store.classes.get_class(m.class_id)
            if cls is None:
                continue
            before = await self._end(
                lambda c=cls: self.store.classes.membership(c.id, account_id),
                lambda current, c=cls: classes.deactivated(c, current, by, now()),
                self.store.classes.save_membership,
            )
            if before is not None and cls.administrative and before.status == "active":
                await self.store.classes.release_place(cls, account_id)
            ended += before is not None
        for cls in await self.store.classes.classes_taught_by(account_id):
            if cls.owner == account_id and not cls.administrative:
                revoked = await self.store.codes.revoke_all(cls.id)
                log.info("owner %s deactivated: %d join codes of %s revoked", account_id, revoked, cls.id)
        for m in await self.store.studios.memberships_of(account_id):
            studio = await self.store.studios.studio(m.studio_id)
            if studio is None:
                continue
            before = await self._end(
                lambda s=studio: self.store.studios.member(s.id, account_id),
                lambda current, s=studio: studios.deactivated(s, current, now()),
                self.store.studios.save_member,
            )
            ended += before is not None
        return ended

    async def _end(
        self,
        read: Callable[[], Awaitable[Any]],
        step: Callable[[Any], Any],
        save: Callable[[Any, Any], Awaitable[None]],
    ) -> Any:
        """Read, decide, save; again when another writer was first. Returns the membership as it was before it
        ended (None: nothing was open)."""
        for _ in range(ATTEMPTS):
            current = await read()
            after = step(current) if current is not None else None
            if after is None:
                return None
            try:
                await save(current, after)
            except Stale:
                continue
            return current
        raise Stale("a membership kept changing during the deactivation")
