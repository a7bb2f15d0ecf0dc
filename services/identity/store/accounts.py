"""Accounts and what is unique about them: the login identifiers (``logins``), the national ID numbers of verified
teachers (``nids``), the role invitations waiting for an account's consent (``invites``), the one-time bootstrap
claim (``bootstrap``)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, date, datetime
from typing import Any

from common.auth import Role
from common.contracts.base import Event
from identity.domain.accounts import Account
from identity.domain.snapshots import SNAPSHOT_FIELDS, after_update, snapshot
from identity.store.base import Collections, KeyedLocks, aware
from identity.store.guardians import LinkStore


class AccountStore(Collections):
    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self._writes = KeyedLocks()

    # --- identifiers ------------------------------------------------------------------------------------------
    async def claim_login(self, key: str, user_id: str) -> bool:
        """False when the phone or e-mail is claimed already."""
        return await self._insert("logins", {"_id": key, "user_id": user_id, "at": datetime.now(UTC)})

    async def release_login(self, key: str, user_id: str) -> None:
        await self.db["logins"].delete_one({"_id": key, "user_id": user_id})

    async def login_claim(self, key: str) -> dict[str, Any] | None:
        return await self._get("logins", key)

    async def login_owner(self, key: str) -> str | None:
        doc = await self._get("logins", key)
        return doc["user_id"] if doc else None

    async def claim_national_id(self, key: str, user_id: str) -> str:
        """Returns the owner: ``user_id`` if claimed now or before by the same user."""
        return await self._holder("nids", {"_id": key, "user_id": user_id}, "user_id")

    async def release_national_id(self, key: str, user_id: str) -> None:
        await self.db["nids"].delete_one({"_id": key, "user_id": user_id})

    # --- the account --------------------------------------------------------------------------------------------
    async def orgs_of(self, user_id: str) -> tuple[str | None, list[str]]:
        """The school and the role orgs of an account (org paths only, no PII): where its events are (the feed
        router's province of a learning event)."""
        doc = await self.db["accounts"].find_one({"_id": user_id}, projection={"school": 1, "roles": 1})
        if not doc:
            return None, []
        return doc.get("school"), [r.partition("@")[2] for r in doc.get("roles") or [] if "@" in r]

    async def create(self, account: Account, *events: Event) -> bool:
        """Insert the account with ``events`` (its registration) inside it; False when its id exists."""
        doc = asdict(account)
        doc["_id"] = doc.pop("id")
        doc["roles"] = [r.claim() for r in account.roles]
        if account.birth_date is not None:
            doc["birth_date"] = account.birth_date.isoformat()
        # its snapshot travels with its registration (the outbox): identity.accounts.v1 knows it as reliably
        return await self._insert_announced("accounts", doc, (*events, snapshot(account, (), datetime.now(UTC))))

    async def update(
        self,
        user_id: str,
        *,
        fields: dict[str, Any] | None = None,
        add_role: Role | None = None,
        remove_role: Role | None = None,
        where: dict[str, Any] | None = None,
        events: tuple[Event, ...] = (),
    ) -> bool:
        """Set only the named ``fields`` of one account (and add or remove one role), if it matches ``where``
        (e.g. ``{"status": "active"}``); True when the document changed. Transitions that must happen once
        (deactivation, a grant, a rehash over the hash it read) put their precondition in ``where`` and act only
        when this returns True. ``events`` travel in the same update (the outbox): since pushing them changes a
        matched document, an update with events is "changed" whenever ``where`` matched, so its ``where`` must
        hold the whole precondition (e.g. that the role is not held yet).

        An update with events that changes what a snapshot shows (status, teacher verification, school, roles)
        also carries the account's snapshot after it (``identity.accounts.v1``), in the
        same write. It is computed from the account read under this replica's per-account lock; a concurrent
        update from another replica can make one snapshot miss the other's change, which that change's own
        snapshot (later, same key) or the backfill puts right."""
        update: dict[str, Any] = {}
        if fields:
            update["$set"] = {
                k: v.isoformat() if isinstance(v, date) and not isinstance(v, datetime) else v
                for k, v in fields.items()
            }
        if add_role is not None:
            update["$addToSet"] = {"roles": add_role.claim()}
        if remove_role is not None:
            update["$pull"] = {"roles": remove_role.claim()}
        async with self._writes.hold(user_id):
            if events and (add_role or remove_role or SNAPSHOT_FIELDS & (fields or {}).keys()):
                events = (*events, *await self._snapshot_after(user_id, fields, add_role, remove_role))
            return await self._update_announced("accounts", user_id, where or {}, update, events)

    async def _snapshot_after(
        self, user_id: str, fields: dict[str, Any] | None, add_role: Role | None, remove_role: Role | None
    ) -> tuple[Event, ...]:
        before = await self.account(user_id)
        if before is None:
            return ()
        guardians = await LinkStore(self.db, self.outbox).guardians_of(user_id)
        return (snapshot(after_update(before, fields, add_role, remove_role), guardians, datetime.now(UTC)),)

    async def page(self, after: str | None, limit: int) -> list[Account]:
        """Accounts in id order after ``after`` (the snapshot backfill's pages)."""
        query = {"_id": {"$gt": after}} if after else {}
        docs = await self.db["accounts"].find(query, {"outbox": 0}).sort("_id", 1).limit(limit).to_list(limit)
        return [_account(d) for d in docs]

    async def account(self, user_id: str) -> Account | None:
        doc = await self._get("accounts", user_id)
        return _account(doc) if doc is not None else None

    # --- role invitations (grants waiting for the account's consent) ----------------------------------------
    async def save_invitation(self, user_id: str, role: Role, invited_by: str, expires_at: datetime) -> bool:
        """False when the same invitation is pending already."""
        doc = {
            "_id": f"invite:{user_id}:{role.claim()}",
            "user_id": user_id,
            "role": role.claim(),
            "invited_by": invited_by,
            "expires_at": expires_at,
        }
        return await self._insert("invites", doc)

    async def invitations(self, user_id: str) -> list[dict[str, Any]]:
        docs = await self.db["invites"].find({"user_id": user_id}).to_list(100)
        for d in docs:
            d["expires_at"] = aware(d["expires_at"])
        return docs

    async def take_invitation(self, user_id: str, role: Role) -> dict[str, Any] | None:
        """The pending invitation, removed (accepted or declined once)."""
        doc = await self.db["invites"].find_one_and_delete({"_id": f"invite:{user_id}:{role.claim()}"})
        if doc:
            doc["expires_at"] = aware(doc["expires_at"])
        return doc

    # --- bootstrap -------------------------------------------------------------------------------------------
    async def any_ministry_admin(self) -> bool:
        """A scan, run only by the one-time bootstrap step."""
        return await self.db["accounts"].find_one({"roles": "ministry_admin"}, {"_id": 1}) is not None

    async def claim_bootstrap(self) -> bool:
        return await self._insert("bootstrap", {"_id": "bootstrap:ministry_admin", "at": datetime.now(UTC)})

    async def release_bootstrap(self) -> None:
        await self.db["bootstrap"].delete_one({"_id": "bootstrap:ministry_admin"})


def _account(doc: dict[str, Any]) -> Account:
    doc.pop("outbox", None)  # the events of its changes, the relay's business
    doc["id"] = doc.pop("_id")
    doc["roles"] = [Role.parse(r) for r in doc.get("roles", [])]
    if doc.get("birth_date"):
        doc["birth_date"] = date.fromisoformat(doc["birth_date"])
    for k in ("created_at", "password_changed_at"):
        doc[k] = aware(doc.get(k))
    return Account(**doc)
