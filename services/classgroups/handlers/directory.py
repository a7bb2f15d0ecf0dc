"""Identity's events into the directory of accounts (see :mod:`classgroups.domain.directory`)."""

from __future__ import annotations

import logging

from classgroups.domain import directory
from classgroups.store import ClassGroupsStore
from common.contracts.identity import GuardianLinked
from common.messaging import Envelope

log = logging.getLogger("classgroups.directory")


class Directory:
    def __init__(self, store: ClassGroupsStore) -> None:
        self.store = store

    async def apply(self, envelopes: list[Envelope]) -> int:
        """Apply a batch in order; returns how many changed the directory. A guardian link is a document of its
        own (its insert is idempotent); an account is read, merged and written back (one writer per account:
        the consumer of its partition)."""
        changed = 0
        accounts: dict[str, directory.Account | None] = {}
        dirty: set[str] = set()
        for env in envelopes:
            event = env.event
            if isinstance(event, GuardianLinked):
                await self.store.directory.link(event.user_id, event.guardian_id, event.occurred_at)
                changed += 1
                continue
            user_id = getattr(event, "user_id", None)
            if user_id is None:
                continue
            if user_id not in accounts:
                accounts[user_id] = await self.store.directory.account(user_id)
            updated = directory.apply(accounts[user_id], user_id, event, env.id)
            if updated is not None:
                accounts[user_id] = updated
                dirty.add(user_id)
                changed += 1
        for user_id in dirty:
            account = accounts[user_id]
            assert account is not None
            await self.store.directory.put_account(account)
        return changed
