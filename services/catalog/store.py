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

The document mapping lives here too (``to_doc``/``from_doc``/``public_of``, tree nodes): the handlers above deal in
``Resource`` and ``TreeNode`` objects and in what a replica keeps of a revision (:class:`StoredRevision`).
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from catalog.domain.resource import Resource, ResourceContent
from catalog.domain.tree import TreeNode
from common.contracts import EVENT_TYPES
from common.contracts.base import Event
from common.contracts.catalog import ResourcePublished, ResourcePublishedV1, ResourceWithdrawn
from common.outbox import Change, Outbox
from common.reference import PROVINCES
from common.store import insert_new

REVISIONS = "revisions"
MIGRATIONS = "migrations"  # one document per finished data migration, so that a start skips what is done
LOCAL_CHANNELS_GBT2260 = "local-channels-gbt2260"


def revision_id(resource_id: str, rev: int) -> str:
    return f"{resource_id}~{rev:06d}"


class RevisionConflict(Exception):
    """Another writer appended this revision first."""


@dataclass(frozen=True, slots=True)
class StoredRevision:
    """What a replica keeps of a resource's newest stored revision: its editorial bookkeeping (the read model's
    ``note_revision``), not its content."""

    id: str
    rev: int
    state: str
    provider_id: str
    external_id: str
    content_hash: str


@dataclass(frozen=True, slots=True)
class ScannedRevision:
    """One stored revision as the start-up load of the editorial heads reads it."""

    revision: StoredRevision
    public: dict[str, Any] | None  # the public snapshot the revision holds (JSON mode), None when not public
    withdrawal: tuple[int, str] | None  # (public version, cursor) when the revision withdrew the resource


# --- document mapping ----------------------------------------------------------------------------------------
def content_hash(content: ResourceContent) -> str:
    return hashlib.blake2b(content.model_dump_json().encode(), digest_size=12).hexdigest()


def to_doc(r: Resource, rev: int) -> dict[str, Any]:
    """The revision document; :meth:`CatalogStore.append` adds the change's events."""
    doc = r.model_dump(mode="json")
    if r.published is not None and r.state == "published" and r.published.version == r.version:
        # The public snapshot is the working copy at publication: keep only when it was published.
        doc["published"] = {"from_content": True, "at": doc["published"]["published_at"]}
    doc.update(
        _id=revision_id(r.id, rev),
        rev=rev,
        content_hash=content_hash(r.content),
    )
    return doc


def from_doc(doc: dict[str, Any]) -> Resource:
    fields = {k: v for k, v in doc.items() if k not in ("_id", "rev", "content_hash", "events")}
    fields["published"] = public_of(doc)
    return Resource.model_validate(fields)


def public_of(doc: dict[str, Any]) -> dict[str, Any] | None:
    """The public snapshot a revision document holds (see ``to_doc``), as JSON-mode dict."""
    p = doc.get("published")
    if not p or not p.get("from_content"):
        return p
    return {
        **doc["content"],
        "id": doc["id"],
        "external_id": doc["external_id"],
        "version": doc["version"],
        "provider_kind": doc["provider_kind"],
        "provider_id": doc["provider_id"],
        "created_at": doc["created_at"],
        "published_at": p["at"],
        "updated_at": p["at"],
    }


def revision_of(doc: dict[str, Any]) -> StoredRevision:
    return StoredRevision(
        doc["id"], doc["rev"], doc["state"], doc["provider_id"], doc["external_id"], doc["content_hash"]
    )


def _compact(event: Event) -> dict[str, Any]:
    """A published event's snapshot is the revision's ``published`` field: stored once, not twice (the
    store's write volume is what limits the import)."""
    if isinstance(event, ResourcePublished):
        return event.model_dump(mode="json", exclude={"resource"})
    return event.model_dump(mode="json")


def stored_event(doc: dict[str, Any], entry: dict[str, Any]) -> Event:
    """An event as the outbox relay reads it back from its revision (the inverse of ``_compact``)."""
    data = entry["data"]
    if entry["type"] in (ResourcePublished.TYPE, ResourcePublishedV1.TYPE):
        # A v1 entry a crash left unrelayed goes out as the current version (its snapshot reads as GB/T 2260).
        return ResourcePublished.model_validate({**data, "resource": public_of(doc)})
    return EVENT_TYPES[entry["type"]].model_validate(data)


def declare_outbox(outbox: Outbox) -> None:
    """Revisions carry their events in ``events`` (the field's name predates the shared outbox)."""
    outbox.source(REVISIONS, field="events", encode=_compact, decode=stored_event)


def node_doc(node: TreeNode) -> dict[str, Any]:
    return {"_id": node.id, **node.model_dump(exclude={"id"})}


def node_of(doc: dict[str, Any]) -> TreeNode:
    # Validated when it was imported: constructed as stored (a replica's start loads every node of the tree).
    return TreeNode.model_construct(id=doc["_id"], **{k: v for k, v in doc.items() if k != "_id"})


# --- the store -----------------------------------------------------------------------------------------------
class CatalogStore:
    def __init__(self, db: AsyncDatabase, outbox: Outbox) -> None:
        self.db = db
        self.outbox = outbox
        self.revisions = db[REVISIONS]
        self.tree = db["tree"]

    def change(self, revisions: list[tuple[dict[str, Any], list[Event]]]) -> Change:
        """The outbox change of revision documents and their events. Event ids are deterministic (resource,
        revision, position): a revision re-published after a crash carries the same ids."""
        return self.outbox.change(
            REVISIONS,
            {doc["_id"]: events for doc, events in revisions},
            ids={
                doc["_id"]: [f"{doc['id']}~{doc['rev']}~{i}" for i in range(len(events))] for doc, events in revisions
            },
        )

    async def append(self, resource: Resource, rev: int, events: list[Event]) -> StoredRevision:
        """Insert revision ``rev`` of the resource with its events (announced first, see ``common.outbox``): the
        outbox relay publishes them, now or once Kafka is back. :class:`RevisionConflict` if it exists."""
        doc = to_doc(resource, rev)
        change = self.change([(doc, events)])
        doc["events"] = change.entries(doc["_id"])
        await change.announce()
        try:
            await self.revisions.insert_one(doc)
        except DuplicateKeyError as exc:
            await change.abandon()
            raise RevisionConflict(doc["_id"]) from exc
        change.commit()
        return revision_of(doc)

    async def append_many(
        self, revisions: list[tuple[Resource, int, list[Event]]]
    ) -> tuple[list[tuple[StoredRevision, dict[str, Any]]], list[str]]:
        """Insert published revisions in bulk with their events: returns the written ones with their public
        snapshots, and the ids of the resources whose revision collided (someone else wrote it: its events are not
        this change's). A collision with our own document (a driver retry of a batch that had in fact been
        written) is not a collision."""
        docs = [to_doc(resource, rev) for resource, rev, _ in revisions]
        change = self.change([(doc, events) for doc, (_, _, events) in zip(docs, revisions, strict=True)])
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
        written = []
        for doc in docs:
            if doc["_id"] not in really:
                snapshot = public_of(doc)
                assert snapshot is not None  # an import publishes
                written.append((revision_of(doc), snapshot))
        return written, [d["id"] for d in docs if d["_id"] in really]

    async def latest(self, resource_id: str, known_rev: int) -> tuple[Resource, StoredRevision] | None:
        """The newest revision at or after ``known_rev`` (other replicas may have appended)."""
        doc = await self._get(resource_id, known_rev) if known_rev > 0 else None
        rev = known_rev
        while True:
            newer = await self._get(resource_id, rev + 1)
            if newer is None:
                return None if doc is None else (from_doc(doc), revision_of(doc))
            doc, rev = newer, rev + 1

    async def _get(self, resource_id: str, rev: int) -> dict[str, Any] | None:
        return await self.revisions.find_one({"_id": revision_id(resource_id, rev)})

    async def scan_revisions(self) -> AsyncIterator[ScannedRevision]:
        async for doc in self.revisions.find({}, batch_size=2000):
            withdrawal = None
            for e in doc["events"]:
                if e["type"] == ResourceWithdrawn.TYPE:
                    withdrawal = (e["data"]["version"], e["data"]["cursor"])
            yield ScannedRevision(revision_of(doc), public_of(doc), withdrawal)

    async def put_nodes(self, nodes: list[TreeNode]) -> set[str]:
        return await _insert_ignoring_duplicates(self.tree, [node_doc(n) for n in nodes])

    async def replace_node(self, node: TreeNode) -> None:
        # Rare (a re-import that renames a node): the one update the store does, by _id.
        await self.tree.replace_one({"_id": node.id}, node_doc(node))

    async def scan_nodes(self) -> AsyncIterator[TreeNode]:
        async for doc in self.tree.find({}, batch_size=10000):
            yield node_of(doc)

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
