"""What every collection group of the class groups' store shares: the outbox writes (a document inserted with its
events, or updated with them in one ``update_one``) and the transition claims that make an update's version
condition hold on FerretDB.

FerretDB applies an update as read–modify–write (``../shared/infra-notes.md``), so every concurrency rule rests on
unique inserts: a class, a membership, a leave request or a poll moves from one version to the next only after the
transition ``transitions/<collection>:<id>:<version>`` was claimed by an insert (one writer per version, across
replicas).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from common.contracts import Event
from common.outbox import Outbox
from common.store import insert_new

TAKEOVER = timedelta(seconds=60)  # a transition claimed this long ago whose update never came: its writer died


class Stale(Exception):
    """Another writer changed the document first (its version moved on)."""


class Collections:
    """A group of the service's collections (a subclass per group): the outbox writes they share."""

    def __init__(self, db: AsyncDatabase, outbox: Outbox) -> None:
        self.db = db
        self.outbox = outbox

    # --- outbox plumbing ---------------------------------------------------------------------------------
    async def insert_announced(self, collection: str, docs: list[dict[str, Any]], events: dict[str, list]) -> set[str]:
        """Insert ``docs``, each with its events; returns the ``_id``s that existed already (nothing written for
        them, and their events are not published)."""
        change = self.outbox.change(collection, {k: v for k, v in events.items() if v})
        for doc in docs:
            doc["outbox"] = change.entries(doc["_id"])
        await change.announce()
        existed = {docs[i]["_id"] for i in await insert_new(self.db[collection], docs)}
        if len(existed) == len(docs):
            await change.abandon()
        else:
            change.commit(unwritten=existed)
        return existed

    async def insert_one(self, collection: str, doc: dict[str, Any], events: list[Event]) -> bool:
        """Insert ``doc`` with ``events`` in its outbox field; False (nothing written, no event) when its ``_id``
        was taken."""
        return not await self.insert_announced(collection, [doc], {doc["_id"]: events})

    async def update_announced(
        self, collection: str, doc_id: str, version: int, fields: dict[str, Any], events: Sequence[Event]
    ) -> None:
        """Set ``fields`` (and ``v`` to ``version + 1``) if the document is still at ``version``, pushing ``events``
        into its outbox in the same update; :class:`Stale` otherwise.

        FerretDB evaluates the ``v`` condition and writes without a transaction, so two concurrent updates from
        ``version`` could both "win". The transition is therefore claimed first, by a unique insert of
        ``<collection>:<id>:<version>`` (atomic on both stores): one writer per version, on every replica; the
        claim is deleted once the update is done (a later writer from the same version then fails the condition).
        """
        col = self.db[collection]
        claim = await self._claim_transition(col, collection, doc_id, version)
        try:
            update: dict[str, Any] = {"$set": {**fields, "v": version + 1}}
            change = None
            if events:  # (a collection that publishes nothing is no outbox source)
                await self._prune(col, doc_id)
                change = self.outbox.change(collection, {doc_id: list(events)})
                update["$push"] = {"outbox": {"$each": change.entries(doc_id)}}
                await change.announce()
            result = await col.update_one({"_id": doc_id, "v": version}, update)
            if not result.modified_count:
                if change is not None:
                    await change.abandon()
                raise Stale(doc_id)
            if change is not None:
                change.commit()
        finally:
            await self.db["transitions"].delete_one({"_id": claim})

    async def _claim_transition(self, col: Any, collection: str, doc_id: str, version: int) -> str:
        claim = f"{collection}:{doc_id}:{version}"
        at = datetime.now(UTC)
        if not await insert_new(self.db["transitions"], [{"_id": claim, "at": at}]):
            return claim
        held = await self.db["transitions"].find_one({"_id": claim})
        doc = await col.find_one({"_id": doc_id}, {"v": 1})
        if held is not None and doc is not None and doc.get("v") == version and at - _aware(held["at"]) > TAKEOVER:
            # its writer died between the claim and the update (the document is still at that version): take over
            await self.db["transitions"].delete_one({"_id": claim, "at": held["at"]})
            if not await insert_new(self.db["transitions"], [{"_id": claim, "at": at}]):
                return claim
        raise Stale(doc_id)

    async def _prune(self, col: Any, doc_id: str) -> None:
        """Drop the entries already published from a document updated in place (it would grow with each change);
        ``$pullAll`` of the very entries read (FerretDB's ``$pull`` with a condition matches nothing)."""
        doc = await col.find_one({"_id": doc_id}, {"outbox": 1})
        entries = (doc or {}).get("outbox") or []
        pending = {e["p"] for e in await self.outbox.unpublished(entries)}
        done = [e for e in entries if e["p"] not in pending]
        if done:
            await col.update_one({"_id": doc_id}, {"$pullAll": {"outbox": done}})


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)
