"""Identity's events into the directory of accounts (see :mod:`classgroups.domain.directory`)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from classgroups.domain import directory
from classgroups.store import ClassGroupsStore
from common.contracts.identity import AccountSnapshot, GuardianLinked, UserDeactivated
from common.messaging import Envelope

log = logging.getLogger("classgroups.directory")


Deactivated = Callable[[str, str], Awaitable[int]]


class Directory:
    def __init__(self, store: ClassGroupsStore, on_deactivated: Deactivated | None = None) -> None:
        self.store = store
        self.on_deactivated = on_deactivated
        """What follows a deactivation (``handlers.deactivation``): called with the account id and who
        deactivated it, before the account is written (a crash in between redoes it on redelivery)."""

    async def apply(self, envelopes: list[Envelope]) -> int:
        """Apply a batch in order; returns how many changed the directory. A guardian link is a document of its
        own (its insert is idempotent); the batch's accounts are read in one pass, merged and written back (one
        writer per account: the consumer of its partition; a lookup per account scanned the collection on
        FerretDB once per event)."""
        changed = 0
        ids = [uid for env in envelopes if (uid := getattr(env.event, "user_id", None)) is not None]
        known = await self.store.directory.accounts(ids)
        accounts: dict[str, directory.Account | None] = {uid: known.get(uid) for uid in ids}
        dirty: set[str] = set()
        deactivated: dict[str, str] = {}
        for env in envelopes:
            event = env.event
            if isinstance(event, GuardianLinked):
                await self.store.directory.link(event.user_id, event.guardian_id, event.occurred_at)
                changed += 1
                continue
            user_id = getattr(event, "user_id", None)
            if user_id is None:
                continue
            before = accounts[user_id]
            updated = directory.apply(before, user_id, event, env.id)
            if isinstance(event, AccountSnapshot) and updated is not None:
                for guardian in event.guardian_ids:  # the links a snapshot lists (inserts: idempotent)
                    await self.store.directory.link(user_id, guardian, event.occurred_at)
            if updated is not None:
                if (before is None or before.active) and not updated.active:
                    deactivated[user_id] = event.by if isinstance(event, UserDeactivated) else "identity"
                accounts[user_id] = updated
                dirty.add(user_id)
                changed += 1
        if self.on_deactivated is not None:
            for user_id, by in deactivated.items():
                await self.on_deactivated(user_id, by)
        written = [a for user_id in dirty if (a := accounts[user_id]) is not None]  # (a changed one never is)
        await self.store.directory.put_accounts(written, dirty - known.keys())
        return changed
