"""Counters as sets of slot documents claimed by inserts (``throttle``: failed logins, locks, rate limits;
``resets``: a reset code's guesses), and the pending password reset codes (``resets``)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from pymongo.errors import DuplicateKeyError

from common.contracts.base import Event
from common.outbox import Entry
from identity.domain.accounts import ResetCode
from identity.store.base import Collections, KeyedLocks, aware

# Collections whose documents carry ``exp`` (a datetime) and are purged once it passed.
EXPIRING = ("throttle", "resets")


class CounterStore(Collections):
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
            taken = await self.count_slots(collection, counter)
        if taken >= cap:
            return None
        for n in (*range(taken + 1, cap + 1), *range(1, taken + 1)):
            slot = {"_id": f"{counter}:{n}", "c": counter, "n": n, "s": subject, "exp": expires_at}
            if await self._insert(collection, slot):
                return n
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
        """Lock ``subject`` (once per generation: parallel lockers insert the same ``_id``, one of them wins)."""
        lock = {"_id": f"lock:{subject}:{generation}", "s": subject, "g": generation, "until": until}
        await self._insert("throttle", {**lock, "exp": keep_until})


class ResetStore(Collections):
    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self._writes = KeyedLocks()

    async def save(self, code: ResetCode, *events: Event) -> None:
        """The account's current code (the last request wins, and the replaced code is dead) with ``events`` (its
        notification) pushed in the same write: beside those of earlier codes not yet published, which a replace
        would erase. The document, entries included, is purged once the code expired."""
        _id = f"reset:{code.user_id}"

        async def upsert(entries: list[Entry]) -> bool:
            update: dict[str, Any] = {"$set": {**asdict(code), "exp": code.expires_at}}
            if entries:
                update["$push"] = {"outbox": {"$each": entries}}
            try:
                await self.db["resets"].update_one({"_id": _id}, update, upsert=True)
            except DuplicateKeyError:  # another replica's upsert inserted it first: now it exists, update it
                await self.db["resets"].update_one({"_id": _id}, update)
            return True

        async with self._writes.hold(_id):
            await self._announced("resets", _id, events, upsert)

    async def pending(self, user_id: str) -> ResetCode | None:
        doc = await self._get("resets", f"reset:{user_id}")
        if not doc or "code_id" not in doc:
            return None
        return ResetCode(doc["user_id"], doc["digest"], aware(doc["expires_at"]), doc["code_id"])

    async def use(self, code: ResetCode) -> bool:
        """True for the one caller that used the code (the insert of its use marker is the claim)."""
        return await self._insert("resets", {"_id": f"reset-used:{code.code_id}", "exp": code.expires_at})
