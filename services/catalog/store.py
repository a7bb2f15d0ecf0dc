"""The catalog's store. FerretDB-safe by construction: inserts and exact ``_id`` lookups only.

Updates are read–modify–write scans on FerretDB (we measured ~90 ms per update_one at 10k documents,
~35 ms per upserting replace; an insert_many of 10k documents takes 0.7 s), so the store never updates a
resource document. Every change *appends* a revision:

- ``revisions``: ``_id = "<resource id>~<rev:06d>"``, the whole resource after the change (working copy,
  state, public snapshot, audit trail) and ``events``, the events the change raised: the revision is an
  outbox source (``common.outbox``), its insert announced by a pointer in ``outbox`` and its events published
  by the relay. The insert is atomic and its unique ``_id`` is the optimistic-concurrency check: two writers of
  the same revision collide with a duplicate key and the loser retries on the newer state.
- ``tree``: textbook tree nodes by node id.

The latest revision of a resource is found by probing ``_id``s forward from the last known revision.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from common.outbox import Change
from common.reference import PROVINCES
from common.store import insert_new

REVISIONS = "revisions"
MIGRATIONS = "migrations"  # one document per finished data migration, so that a start skips what is done
LOCAL_CHANNELS_GBT2260 = "local-channels-gbt2260"


def revision_id(resource_id: str, rev: int) -> str:
    return f"{resource_id}~{rev:06d}"


def split_revision_id(rev_id: str) -> tuple[str, int]:
    rid, _, rev = rev_id.rpartition("~")
    return rid, int(rev)


class RevisionConflict(Exception):
    """Another writer appended this revision first."""


class CatalogStore:
    def __init__(self, db: AsyncDatabase) -> None:
        self.db = db
        self.revisions = db[REVISIONS]
        self.tree = db["tree"]

    async def append(self, doc: dict[str, Any], change: Change) -> None:
        """Insert the revision with the events of ``change`` (announced first, see ``common.outbox``)."""
        doc["events"] = change.entries(doc["_id"])
        await change.announce()
        try:
            await self.revisions.insert_one(doc)
        except DuplicateKeyError as exc:
            await change.abandon()
            raise RevisionConflict(doc["_id"]) from exc
        change.commit()

    async def append_many(self, docs: list[dict[str, Any]], change: Change) -> set[str]:
        """Insert in bulk with the events of ``change``; returns the ``_id``s that collided (someone else wrote
        them: their events are not this change's). A collision with our own document (a driver retry of a
        batch that had in fact been written) is not a collision."""
        for doc in docs:
            doc["events"] = change.entries(doc["_id"])
        await change.announce()
        collided = await _insert_ignoring_duplicates(self.revisions, docs)
        by_id = {d["_id"]: d for d in docs}
        really = set()
        for rev_id in collided:
            stored = await self.revisions.find_one({"_id": rev_id}, {"content_hash": 1, "updated_at": 1, "events": 1})
            mine = by_id[rev_id]
            if stored is None or (stored.get("content_hash"), stored.get("updated_at"), stored.get("events")) != (
                mine["content_hash"],
                mine["updated_at"],
                mine["events"],
            ):
                really.add(rev_id)
        change.commit(unwritten=really)
        return really

    async def get(self, resource_id: str, rev: int) -> dict[str, Any] | None:
        return await self.revisions.find_one({"_id": revision_id(resource_id, rev)})

    async def latest(self, resource_id: str, known_rev: int) -> dict[str, Any] | None:
        """The newest revision at or after ``known_rev`` (other replicas may have appended)."""
        doc = await self.get(resource_id, known_rev) if known_rev > 0 else None
        rev = known_rev
        while True:
            newer = await self.get(resource_id, rev + 1)
            if newer is None:
                return doc
            doc, rev = newer, rev + 1

    async def scan_revisions(self) -> AsyncIterator[dict[str, Any]]:
        async for doc in self.revisions.find({}, batch_size=2000):
            yield doc

    async def put_nodes(self, nodes: list[dict[str, Any]]) -> set[str]:
        return await _insert_ignoring_duplicates(self.tree, nodes)

    async def replace_node(self, node: dict[str, Any]) -> None:
        # Rare (a re-import that renames a node): the one update the store does, by _id.
        await self.tree.replace_one({"_id": node["_id"]}, node)

    async def scan_nodes(self) -> AsyncIterator[dict[str, Any]]:
        async for doc in self.tree.find({}, batch_size=10000):
            yield doc

    async def migrate_local_channels(self) -> list[str] | None:
        """Rewrite the local channels stored in ISO 3166-2:CN letters (``hn``) as GB/T 2260 codes (``43``), in
        the working copies and the stored public snapshots of every revision. Returns the resources whose public
        snapshot carried letters, to be published again (:mod:`catalog.migration`), until
        :meth:`local_channels_republished` says that is done; None once it is.

        The one in-place update of revisions, safe because nothing else updates them (they are insert-only)
        and because it is idempotent: a second run, or two replicas at once, set the same values. The resources
        to republish are recorded in ``migrations`` before anything is rewritten, so a crash between the two steps
        loses none. A revision an older replica appends during a rolling deploy may still carry letters: reads map
        them (``ResourceContent``, ``PublishedResource``). Cost on FerretDB, where every query scans: one filtered
        pass per field, one ``update_many`` per letter found; later starts read only the ``migrations`` document.
        ``content_hash`` is left as computed from the letters: the next import of such a resource is a new
        published version (it carries the code, as every version now does)."""
        migrations = self.db[MIGRATIONS]
        marker = await migrations.find_one({"_id": LOCAL_CHANNELS_GBT2260})
        if marker is not None and marker.get("republished"):
            return None
        letters = {p.abbr: p.code for p in PROVINCES.values()}
        found: dict[str, set[str]] = {}
        resources: set[str] = set()
        for part in ("content", "published"):
            field = f"{part}.local_channel"
            found[field] = set()
            async for doc in self.revisions.find({field: {"$in": sorted(letters)}}, {field: 1, "id": 1}):
                found[field].add(doc[part]["local_channel"])
                resources.add(doc["id"])  # the public ones among them are published again
        if marker is None:
            await insert_new(migrations, [{"_id": LOCAL_CHANNELS_GBT2260, "resources": sorted(resources)}])
            marker = await migrations.find_one({"_id": LOCAL_CHANNELS_GBT2260})  # ours, or a replica's at once
            assert marker is not None
        for field, present in found.items():
            for letter in sorted(present):
                await self.revisions.update_many({field: letter}, {"$set": {field: letters[letter]}})
        return sorted(set(marker["resources"]) | resources)

    async def local_channels_republished(self) -> None:
        await self.db[MIGRATIONS].update_one({"_id": LOCAL_CHANNELS_GBT2260}, {"$set": {"republished": True}})


async def _insert_ignoring_duplicates(collection: Any, docs: list[dict[str, Any]]) -> set[str]:
    """The ``_id``s among ``docs`` that were already stored (the others are inserted now)."""
    return {docs[i]["_id"] for i in await insert_new(collection, docs)}
