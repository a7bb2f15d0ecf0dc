"""The directory: accounts as learned from identity's events (``accounts``) and guardian links (``links``)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from classgroups.domain.directory import Account, Grant
from classgroups.store.base import Collections
from classgroups.store.coalesce import CoalescedReads
from common.outbox import Outbox
from common.store import by_ids, insert_new


class DirectoryStore(Collections):
    def __init__(self, db: AsyncDatabase, outbox: Outbox) -> None:
        super().__init__(db, outbox)
        # the access checks of every command read the caller's entry: concurrent requests share one read
        self._accounts = CoalescedReads(self.accounts)

    async def account(self, user_id: str) -> Account | None:
        return await self._accounts.get(user_id)

    async def accounts(self, ids: Iterable[str]) -> dict[str, Account]:
        return {i: _account(doc) for i, doc in (await by_ids(self.db["accounts"], ids)).items()}

    async def put_account(self, account: Account) -> None:
        # One writer per account: the consumer of the partition its user id is keyed to.
        await self.db["accounts"].replace_one({"_id": account.id}, _account_doc(account), upsert=True)

    async def put_accounts(self, accounts: Iterable[Account], new: set[str]) -> None:
        """Write a batch's accounts: those ``new`` to the directory in one unordered insert (the write that does
        not scan on FerretDB: a school's roster arrives as hundreds of new accounts), the others, and any the
        insert found there after all, replaced one by one."""
        accounts = list(accounts)
        fresh = [a for a in accounts if a.id in new]
        found = await insert_new(self.db["accounts"], [_account_doc(a) for a in fresh])
        for account in [fresh[i] for i in found] + [a for a in accounts if a.id not in new]:
            await self.put_account(account)

    async def link(self, child: str, guardian: str, at: datetime) -> None:
        await insert_new(
            self.db["links"], [{"_id": f"{child}:{guardian}", "child": child, "guardian": guardian, "at": at}]
        )

    async def is_guardian(self, guardian: str, child: str) -> bool:
        return await self.db["links"].find_one({"_id": f"{child}:{guardian}"}, {"_id": 1}) is not None

    async def children_of(self, guardian: str) -> list[str]:
        return [d["child"] async for d in self.db["links"].find({"guardian": guardian}, {"child": 1})]


# --- document mapping -------------------------------------------------------------------------------------
def _account_doc(a: Account) -> dict[str, Any]:
    grants = [{"r": g.role, "o": g.org, "on": g.held, "at": g.at} for g in a.grants]
    return {
        "_id": a.id,
        "kind": a.kind,
        "active": a.active,
        "verified": a.verified,
        "verified_at": a.verified_at,
        "school": a.school,
        "grants": grants,
        "seen": list(a.seen),
    }


def _account(d: dict[str, Any]) -> Account:
    grants = tuple(Grant(g["r"], g["o"], g["on"], g["at"]) for g in d.get("grants", ()))
    return Account(
        d["_id"],
        d.get("kind"),
        d.get("active", True),
        d.get("verified", False),
        d.get("verified_at"),
        d.get("school"),
        grants,
        tuple(d.get("seen", ())),
    )
