"""The only code touching identity's database. Every read is by ``_id`` (or a whole, small collection read
once at start: signing keys, org nodes); every uniqueness rule is an insert of a unique ``_id``, which is atomic
even on FerretDB (whose updates are read–modify–write without transactions).

Collections and ``_id`` shapes:
  accounts   ``u_<32 hex>``                        the account (PII fields encrypted)
  logins     ``login:<phone|email>:<hmac>``         → account id; inserting it claims the identifier
  nids       ``nid:<hmac>``                         → account id; one teacher per national ID number
  refresh    ``rt:<sha256>`` / ``rt-used:<sha256>`` / ``fam:<family>``  refresh tokens, use markers, families
  throttle   ``thr:<subject>:<generation>:<window>:<n>``  failed-login slots (subject ``acct:<login key>`` or
             ``ip:<ip>``); ``lock:<subject>:<generation>`` locks; ``rl:<action>:<subject>:<window>:<n>``
             rate-limit slots. Every counter is a set of slot documents claimed by inserts (see ``claim_slot``)
  resets     ``reset:<user id>`` the pending password reset code (HMAC only); ``reset-attempt:<code id>:<n>``
             its guesses, ``reset-used:<code id>`` its single use
  glinks     ``glink-decision:<child>:<parent>``    the one decision on a link (its insert is the transition)
  keys       ``key:<kid>``                          signing keys, private part encrypted
  orgs       ``org:<path>``                         hierarchy nodes
  clients    ``client:<client id>``                 OIDC clients
  codes      ``code:<sha256>`` / ``code-used:<sha256>``  authorization codes and their single-use claims
  glinks     ``glink:<child>:<parent>``             guardian links
  invites    ``invite:<user id>:<role>@<org>``     role grants waiting for the account's consent
  consents   ``consent:<user id>:<client id>``      OIDC scopes a user consented to, per relying party
  orgcodes   ``school:<code>``                      → org path; inserting it claims a school code nationally
  bootstrap  ``bootstrap:ministry_admin``           the one-time first-admin step ran (insert = atomic claim)
  audit      ``audit:<ISO time>:<uuid>``            admin actions, role grants (insert only)

Accounts are changed field by field (``update_account``), never replaced: on MongoDB each update of one
document is atomic, so a role grant and a password change on two replicas both survive. FerretDB applies an
update as read–modify–write without a transaction (40 concurrent ``$addToSet``s of distinct values kept 1–7;
a ``{_id, v: 0}`` filter let up to 20 of 40 concurrent updates "win"), so this store also serialises the writes
to one account within the process (``_KeyedLocks``): one FerretDB-backed process (local runs, CI) loses nothing.

Events go through the outbox (``common.outbox``), in the same single-document write as the state they announce
(``declare_outbox`` names the three sources): a registration's inside the inserted account, a grant's, a
revocation's, a deactivation's, a password change's and a teacher verification's ``$push``ed into the account's
``outbox`` field by the very ``update_one`` that changes it (so only when its condition matched), a reset code's
``NotificationRequested`` in the ``resets`` document, a ``GuardianLinked`` in the inserted link decision. An
update pushes its entries beside those of earlier changes (a ``$set`` of the list could erase another writer's);
entries already published are pulled (``$pullAll``) from an account before its next evented change
(:meth:`IdentityStore._prune`; a reset document's go with it when its code expires).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import asdict
from datetime import UTC, date, datetime
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from common.auth import Role
from common.contracts.base import Event
from common.outbox import Change, Outbox
from common.store import bulk_write
from identity.domain.accounts import Account, ResetCode
from identity.domain.guardians import GuardianLink
from identity.domain.oidc import AuthorizationCode, Client
from identity.domain.orgs import OrgNode
from identity.domain.tokens import RefreshToken, SigningKey


class Duplicate(Exception):
    pass


def _aware(value: Any) -> Any:
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


class _KeyedLocks:
    """One ``asyncio.Lock`` per key while someone holds or waits for it (the map never outgrows the writes in
    flight)."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @contextlib.asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)


# The collections whose documents carry outbox entries, in the default ``outbox`` field.
OUTBOX_SOURCES = ("accounts", "resets", "glinks")


def declare_outbox(outbox: Outbox) -> None:
    """Identity's outbox sources. A sweep reads only a document's entries (``projection=()``): the default decode
    needs nothing else, and an account's other fields are PII."""
    for collection in OUTBOX_SOURCES:
        outbox.source(collection, projection=())


# Collections whose documents carry ``exp`` (a datetime) and are purged once it passed.
EXPIRING = ("throttle", "resets")


class IdentityStore:
    def __init__(self, db: AsyncDatabase, outbox: Outbox) -> None:
        self.db = db
        self.outbox = outbox
        self._account_writes = _KeyedLocks()

    def _change(self, collection: str, doc_id: str, events: tuple[Event, ...]) -> Change | None:
        return self.outbox.change(collection, {doc_id: list(events)}, abandon_on=(Duplicate,)) if events else None

    async def _insert_announced(self, collection: str, doc: dict[str, Any], events: tuple[Event, ...]) -> None:
        """Insert ``doc`` with ``events`` in its outbox field; Duplicate (nothing written, no event) as ``_insert``."""
        change = self._change(collection, doc["_id"], events)
        if change is None:
            return await self._insert(collection, doc)
        doc["outbox"] = change.entries(doc["_id"])
        async with change:
            await self._insert(collection, doc)

    async def _update_announced(
        self, collection: str, doc_id: str, where: dict[str, Any], update: dict[str, Any], events: tuple[Event, ...]
    ) -> bool:
        """``update_one`` of ``doc_id`` if it matches ``where``, ``events`` pushed by the same update; True when
        it changed the document. A document that did not match gets no entries, and the change is abandoned.
        The caller holds the document's write lock (FerretDB's updates are read–modify–write)."""
        change = self._change(collection, doc_id, events)
        if change is None:
            result = await self.db[collection].update_one({"_id": doc_id, **where}, update)
            return result.modified_count > 0
        await self._prune(collection, doc_id)
        update = {**update, "$push": {"outbox": {"$each": change.entries(doc_id)}}}
        await change.announce()  # if this raises, nothing is written
        result = await self.db[collection].update_one({"_id": doc_id, **where}, update)
        # (an error of the update itself propagates with the pointer kept: the sweep settles what was written)
        if result.modified_count > 0:
            change.commit()
            return True
        await change.abandon()
        return False

    async def _prune(self, collection: str, doc_id: str) -> None:
        """Pull the entries of changes already published (their pointer is gone) out of the document, so that it
        does not grow with every change. ``$pullAll`` of the very entries read never touches another writer's
        pending ones (FerretDB's ``$pull`` removes only equal values: a condition such as ``{p: {$in: …}}``
        silently matched nothing)."""
        doc = await self.db[collection].find_one({"_id": doc_id}, {"outbox": 1})
        entries = (doc or {}).get("outbox") or []
        pending = {e["p"] for e in await self.outbox.unpublished(entries)}
        done = [e for e in entries if e["p"] not in pending]
        if done:
            await self.db[collection].update_one({"_id": doc_id}, {"$pullAll": {"outbox": done}})

    async def _insert(self, collection: str, doc: dict[str, Any]) -> None:
        try:
            await self.db[collection].insert_one(doc)
        except DuplicateKeyError as exc:
            raise Duplicate(doc["_id"]) from exc

    async def _get(self, collection: str, _id: str) -> dict[str, Any] | None:
        return await self.db[collection].find_one({"_id": _id})

    # --- accounts -----------------------------------------------------------------------------------------
    async def claim_login(self, key: str, user_id: str) -> None:
        await self._insert("logins", {"_id": key, "user_id": user_id, "at": datetime.now(UTC)})

    async def release_login(self, key: str, user_id: str) -> None:
        await self.db["logins"].delete_one({"_id": key, "user_id": user_id})

    async def login_claim(self, key: str) -> dict[str, Any] | None:
        return await self._get("logins", key)

    async def login_owner(self, key: str) -> str | None:
        doc = await self._get("logins", key)
        return doc["user_id"] if doc else None

    async def claim_national_id(self, key: str, user_id: str) -> str:
        """Returns the owner: ``user_id`` if claimed now or before by the same user."""
        try:
            await self._insert("nids", {"_id": key, "user_id": user_id})
            return user_id
        except Duplicate:
            doc = await self._get("nids", key)
            return doc["user_id"] if doc else user_id

    async def create_account(self, account: Account, *events: Event) -> None:
        """Insert the account with ``events`` (its registration) inside it; Duplicate when its id exists."""
        doc = asdict(account)
        doc["_id"] = doc.pop("id")
        doc["roles"] = [r.claim() for r in account.roles]
        if account.birth_date is not None:
            doc["birth_date"] = account.birth_date.isoformat()
        await self._insert_announced("accounts", doc, events)

    async def update_account(
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
        hold the whole precondition (e.g. that the role is not held yet)."""
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
        async with self._account_writes.hold(user_id):
            return await self._update_announced("accounts", user_id, where or {}, update, events)

    async def account(self, user_id: str) -> Account | None:
        doc = await self._get("accounts", user_id)
        if doc is None:
            return None
        doc.pop("outbox", None)  # the events of its changes, the relay's business
        doc["id"] = doc.pop("_id")
        doc["roles"] = [Role.parse(r) for r in doc.get("roles", [])]
        if doc.get("birth_date"):
            doc["birth_date"] = date.fromisoformat(doc["birth_date"])
        for k in ("created_at", "password_changed_at"):
            doc[k] = _aware(doc.get(k))
        return Account(**doc)

    # --- counters: slot documents claimed by inserts ------------------------------------------------------
    async def claim_slot(
        self,
        collection: str,
        counter: str,
        cap: int,
        *,
        expires_at: datetime,
        taken: int | None = None,
        subject: str | None = None,
    ) -> int | None:
        """Take one of the ``cap`` slots ``<counter>:1..cap`` by inserting it: its number, or None when all are
        taken. An insert of a unique ``_id`` is atomic on FerretDB too, so N parallel callers get at most ``cap``
        slots between them. ``taken`` (counted here unless the caller read it already) only says where to start
        looking; a slot freed by ``release_slot`` is found by the second pass. ``subject`` tags the slot for
        ``throttle_of``."""
        if taken is None:
            taken = await self.db[collection].count_documents({"c": counter})
        if taken >= cap:
            return None
        for n in (*range(taken + 1, cap + 1), *range(1, taken + 1)):
            try:
                await self._insert(
                    collection, {"_id": f"{counter}:{n}", "c": counter, "n": n, "s": subject, "exp": expires_at}
                )
                return n
            except Duplicate:
                continue
        return None

    async def release_slot(self, collection: str, counter: str, n: int) -> None:
        await self.db[collection].delete_one({"_id": f"{counter}:{n}"})

    async def clear_counter(self, collection: str, counter: str) -> None:
        await self.db[collection].delete_many({"c": counter})

    async def count_slots(self, collection: str, counter: str) -> int:
        return await self.db[collection].count_documents({"c": counter})

    async def purge_expired(self) -> int:
        """Delete expired slots, locks and reset codes (FerretDB has no TTL indexes); each replica runs it."""
        t = datetime.now(UTC)
        return sum([(await self.db[c].delete_many({"exp": {"$lt": t}})).deleted_count for c in EXPIRING])

    # --- login throttle --------------------------------------------------------------------------------------
    async def throttle_of(self, subject: str) -> tuple[tuple[int, float] | None, dict[str, int]]:
        """The subject's latest lock still kept (generation, locked until as a timestamp) and its taken failure
        slots by counter, in one read (FerretDB scans for each query: one read instead of a lookup and a count)."""
        docs = await self.db["throttle"].find({"s": subject}, {"c": 1, "g": 1, "until": 1}).to_list(None)
        locks = [d for d in docs if "g" in d]  # a few per day at most; slots: at most the cap per window
        last = max(locks, key=lambda d: d["g"]) if locks else None
        slots: dict[str, int] = {}
        for d in docs:
            if "c" in d:
                slots[d["c"]] = slots.get(d["c"], 0) + 1
        return ((last["g"], last["until"]) if last else None), slots

    async def lock(self, subject: str, generation: int, until: float, *, keep_until: datetime) -> None:
        """Lock ``subject`` (once per generation: parallel lockers insert the same ``_id``)."""
        with contextlib.suppress(Duplicate):
            await self._insert(
                "throttle",
                {
                    "_id": f"lock:{subject}:{generation}",
                    "s": subject,
                    "g": generation,
                    "until": until,
                    "exp": keep_until,
                },
            )

    # --- password reset ------------------------------------------------------------------------------------
    async def save_reset(self, code: ResetCode, *events: Event) -> None:
        """The account's current code (the last request wins, and the replaced code is dead) with ``events`` (its
        notification) pushed in the same write: beside those of earlier codes not yet published, which a replace
        would erase. The document, entries included, is purged once the code expired."""
        _id = f"reset:{code.user_id}"
        update = {"$set": {**asdict(code), "exp": code.expires_at}}
        change = self._change("resets", _id, events)
        if change is not None:
            update["$push"] = {"outbox": {"$each": change.entries(_id)}}
        async with self._account_writes.hold(_id), change or contextlib.nullcontext():
            try:
                await self.db["resets"].update_one({"_id": _id}, update, upsert=True)
            except DuplicateKeyError:  # another replica's upsert inserted it first: now it exists, update it
                await self.db["resets"].update_one({"_id": _id}, update)

    async def reset(self, user_id: str) -> ResetCode | None:
        doc = await self._get("resets", f"reset:{user_id}")
        if not doc or "code_id" not in doc:
            return None
        return ResetCode(doc["user_id"], doc["digest"], _aware(doc["expires_at"]), doc["code_id"])

    async def use_reset(self, code: ResetCode) -> bool:
        """True for the one caller that used the code (the insert of its use marker is the claim)."""
        try:
            await self._insert("resets", {"_id": f"reset-used:{code.code_id}", "exp": code.expires_at})
            return True
        except Duplicate:
            return False

    # --- refresh tokens ----------------------------------------------------------------------------------
    async def save_refresh(self, token: RefreshToken) -> None:
        await self._insert("refresh", {"_id": f"rt:{token.digest}", **asdict(token)})

    async def refresh(self, digest: str) -> RefreshToken | None:
        doc = await self._get("refresh", f"rt:{digest}")
        if not doc:
            return None
        doc.pop("_id")
        for k in ("issued_at", "expires_at", "auth_time"):
            doc[k] = _aware(doc[k])
        return RefreshToken(**doc)

    async def mark_refresh_used(self, digest: str) -> bool:
        """True when this call used it; False when it had been used before (reuse)."""
        try:
            await self._insert("refresh", {"_id": f"rt-used:{digest}", "at": datetime.now(UTC)})
            return True
        except Duplicate:
            return False

    async def revoke_family(self, family: str, reason: str) -> None:
        # an insert: parallel revocations (a reused token presented twice at once) were a duplicate-key 500 as
        # racing upserts; the first reason stays
        with contextlib.suppress(Duplicate):
            await self._insert(
                "refresh", {"_id": f"fam:{family}", "revoked": True, "reason": reason, "at": datetime.now(UTC)}
            )

    async def family_revoked(self, family: str) -> bool:
        return await self._get("refresh", f"fam:{family}") is not None

    # --- signing keys --------------------------------------------------------------------------------------
    async def save_keys(self, keys: list[tuple[SigningKey, str]]) -> None:
        """(key, encrypted private JWK) pairs."""
        for key, sealed in keys:
            doc = {
                "_id": f"key:{key.kid}",
                "kid": key.kid,
                "private": sealed,
                "status": key.status,
                "created_at": key.created_at,
                "retire_after": key.retire_after,
            }
            await self.db["keys"].replace_one({"_id": doc["_id"]}, doc, upsert=True)

    async def keys(self) -> list[dict[str, Any]]:
        docs = await self.db["keys"].find({}).to_list(None)  # a handful of documents
        for d in docs:
            d["created_at"], d["retire_after"] = _aware(d["created_at"]), _aware(d.get("retire_after"))
        return docs

    # --- orgs --------------------------------------------------------------------------------------------
    async def insert_org(self, node: OrgNode) -> None:
        """A new node; Duplicate when the path exists (never overwrites, unlike the seed's :meth:`save_orgs`)."""
        await self._insert("orgs", {"_id": f"org:{node.path}", "path": node.path, "name": node.name})

    async def school_codes(self) -> dict[str, str]:
        """Every claimed school code and the path holding it (one read at start)."""
        return {d["_id"].removeprefix("school:"): d["path"] async for d in self.db["orgcodes"].find({})}

    async def claim_school_code(self, code: str, path: str) -> str:
        """Claims a school code nationally for ``path``; returns the path that holds it (another one: taken)."""
        try:
            await self._insert("orgcodes", {"_id": f"school:{code}", "path": path})
            return path
        except Duplicate:
            doc = await self._get("orgcodes", f"school:{code}")
            return doc["path"] if doc else path

    async def release_school_code(self, code: str, path: str) -> None:
        await self.db["orgcodes"].delete_one({"_id": f"school:{code}", "path": path})

    async def save_orgs(self, nodes: list[OrgNode]) -> None:
        from pymongo import ReplaceOne

        if nodes:
            await bulk_write(
                self.db["orgs"],
                [
                    ReplaceOne(
                        {"_id": f"org:{n.path}"}, {"_id": f"org:{n.path}", "path": n.path, "name": n.name}, upsert=True
                    )
                    for n in nodes
                ],
            )

    async def orgs(self) -> list[OrgNode]:
        return [OrgNode(d["path"], d["name"]) async for d in self.db["orgs"].find({})]

    # --- OIDC ----------------------------------------------------------------------------------------------
    async def save_client(self, client: Client) -> None:
        await self._insert("clients", {"_id": f"client:{client.client_id}", **asdict(client)})

    async def client(self, client_id: str) -> Client | None:
        doc = await self._get("clients", f"client:{client_id}")
        if not doc:
            return None
        doc.pop("_id")
        doc["allowed_scopes"] = tuple(doc["allowed_scopes"])
        return Client(**doc)

    async def save_code(self, code: AuthorizationCode) -> None:
        await self._insert("codes", {"_id": f"code:{code.digest}", **asdict(code)})

    async def take_code(self, digest: str) -> AuthorizationCode | None:
        """The code, once: the insert of its use marker is the atomic claim."""
        doc = await self._get("codes", f"code:{digest}")
        if not doc:
            return None
        try:
            await self._insert("codes", {"_id": f"code-used:{digest}"})
        except Duplicate:
            return None
        doc.pop("_id")
        for k in ("auth_time", "expires_at"):
            doc[k] = _aware(doc[k])
        return AuthorizationCode(**doc)

    async def set_client_active(self, client_id: str, active: bool) -> bool:
        result = await self.db["clients"].update_one({"_id": f"client:{client_id}"}, {"$set": {"active": active}})
        return result.matched_count == 1

    async def consented_scopes(self, user_id: str, client_id: str) -> set[str]:
        doc = await self._get("consents", f"consent:{user_id}:{client_id}")
        return set(doc["scopes"]) if doc else set()

    async def save_consent(self, user_id: str, client_id: str, scopes: set[str]) -> None:
        _id = f"consent:{user_id}:{client_id}"
        doc = {
            "_id": _id,
            "user_id": user_id,
            "client_id": client_id,
            "scopes": sorted(scopes),
            "at": datetime.now(UTC),
        }
        await self.db["consents"].replace_one({"_id": _id}, doc, upsert=True)

    async def withdraw_consent(self, user_id: str, client_id: str) -> bool:
        result = await self.db["consents"].delete_one({"_id": f"consent:{user_id}:{client_id}"})
        return result.deleted_count == 1

    # --- role invitations (grants waiting for the account's consent) ----------------------------------------
    async def save_invitation(self, user_id: str, role: Role, invited_by: str, expires_at: datetime) -> bool:
        """False when the same invitation is pending already."""
        try:
            await self._insert(
                "invites",
                {
                    "_id": f"invite:{user_id}:{role.claim()}",
                    "user_id": user_id,
                    "role": role.claim(),
                    "invited_by": invited_by,
                    "expires_at": expires_at,
                },
            )
            return True
        except Duplicate:
            return False

    async def invitations(self, user_id: str) -> list[dict[str, Any]]:
        docs = await self.db["invites"].find({"user_id": user_id}).to_list(100)
        for d in docs:
            d["expires_at"] = _aware(d["expires_at"])
        return docs

    async def take_invitation(self, user_id: str, role: Role) -> dict[str, Any] | None:
        """The pending invitation, removed (accepted or declined once)."""
        doc = await self.db["invites"].find_one_and_delete({"_id": f"invite:{user_id}:{role.claim()}"})
        if doc:
            doc["expires_at"] = _aware(doc["expires_at"])
        return doc

    # --- bootstrap -------------------------------------------------------------------------------------------
    async def any_ministry_admin(self) -> bool:
        """A scan, run only by the one-time bootstrap step."""
        return await self.db["accounts"].find_one({"roles": "ministry_admin"}, {"_id": 1}) is not None

    async def claim_bootstrap(self) -> bool:
        try:
            await self._insert("bootstrap", {"_id": "bootstrap:ministry_admin", "at": datetime.now(UTC)})
            return True
        except Duplicate:
            return False

    async def release_bootstrap(self) -> None:
        await self.db["bootstrap"].delete_one({"_id": "bootstrap:ministry_admin"})

    async def release_national_id(self, key: str, user_id: str) -> None:
        await self.db["nids"].delete_one({"_id": key, "user_id": user_id})

    # --- guardian links --------------------------------------------------------------------------------------
    async def save_link(self, link: GuardianLink) -> None:
        await self._insert("glinks", {"_id": link.id, **asdict(link)})

    async def decide_link(self, link: GuardianLink, *events: Event) -> bool:
        """Record ``link``'s decision once: the insert of ``glink-decision:…`` is the transition (a conditional
        update is not atomic on FerretDB), so of parallel approvals exactly one gets True, and the ``events``
        inserted with it."""
        decision = {"status": link.status, "decided_by": link.decided_by, "approver_role": link.approver_role}
        try:
            await self._insert_announced(
                "glinks", {"_id": link.id.replace("glink:", "glink-decision:", 1), **decision}, events
            )
        except Duplicate:
            return False
        await self.db["glinks"].update_one({"_id": link.id}, {"$set": decision})  # only the winner writes
        return True

    async def link(self, parent_id: str, child_id: str) -> GuardianLink | None:
        doc = await self._get("glinks", f"glink:{child_id}:{parent_id}")
        if not doc:
            return None
        doc.pop("_id")
        doc["requested_at"] = _aware(doc["requested_at"])
        return GuardianLink(**doc)

    # --- audit -------------------------------------------------------------------------------------------
    async def audit(self, actor: str, action: str, target: str, **details: Any) -> None:
        now = datetime.now(UTC)
        await self.db["audit"].insert_one(
            {
                "_id": f"audit:{now.isoformat()}:{uuid.uuid4().hex}",
                "at": now,
                "actor": actor,
                "action": action,
                "target": target,
                **details,
            }
        )
