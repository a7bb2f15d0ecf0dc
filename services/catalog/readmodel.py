"""The replica's in-memory read model: what lists, facets, the tree, detail and the change feed answer from.

Built at start from the store (revisions and tree nodes) and kept current from the catalog's own events
(every replica consumes ``catalog.resources.v1`` in its own group) and from local writes. Applying a change
is idempotent: a public snapshot replaces the held one only if its ``(version, cursor)`` is newer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from catalog.domain.tree import TreeNode
from catalog.feed import ChangeFeed
from catalog.paging import FEED_PARTITIONS
from catalog.search import SearchIndex
from common.contracts.base import Event
from common.contracts.catalog import ResourcePublished, ResourceWithdrawn

if TYPE_CHECKING:
    from catalog.store import StoredRevision

Position = tuple[int, int]  # (partition, offset) of a record of ``catalog.resources.v1``


@dataclass(slots=True)
class Entry:
    """What a replica holds per resource. ``public`` is the published snapshot as JSON bytes (served as is)."""

    id: str
    rev: int = 0
    state: str = "draft"
    provider_id: str = ""
    external_id: str = ""
    content_hash: str = ""
    public: bytes | None = None
    public_version: int = 0
    cursor: str = ""  # of the last public change (publish or withdrawal)
    withdrawn_version: int = 0


class ReadModel:
    def __init__(self, search_heap_bytes: int = 200_000_000) -> None:
        self.entries: dict[str, Entry] = {}
        self.nodes: dict[str, TreeNode] = {}
        self.lesson_resources: dict[str, dict[str, int]] = {}  # lesson id → {resource id: position}
        self.feed = ChangeFeed(FEED_PARTITIONS)  # GET /v1/changes: only records of the topic move it
        self.popularity: dict[str, float] = {}
        self.index = SearchIndex(search_heap_bytes)

    # --- tree ------------------------------------------------------------------------------------------
    def add_node(self, node: TreeNode) -> None:
        old = self.nodes.get(node.id)
        if old is not None:
            node.children = old.children
        self.nodes[node.id] = node
        if node.parent_id and node.parent_id in self.nodes:
            siblings = self.nodes[node.parent_id].children
            if node.id not in siblings:
                siblings.append(node.id)
                siblings.sort(key=lambda i: self.nodes[i].order if i in self.nodes else 0)

    def link_orphans(self) -> None:
        """After a bulk load in any order: attach every node to its parent."""
        for node in self.nodes.values():
            node.children = []
        for node in self.nodes.values():
            if node.parent_id in self.nodes:
                self.nodes[node.parent_id].children.append(node.id)
        for node in self.nodes.values():
            node.children.sort(key=lambda i: self.nodes[i].order)

    # --- resources -------------------------------------------------------------------------------------
    def note_revision(self, revision: StoredRevision) -> Entry:
        """Record the latest revision's bookkeeping (state, rev …) without touching the public part."""
        e = self.entries.get(revision.id)
        if e is None:
            e = self.entries[revision.id] = Entry(id=revision.id)
        if revision.rev >= e.rev:
            e.rev = revision.rev
            e.state = revision.state
            e.provider_id = revision.provider_id
            e.external_id = revision.external_id
            e.content_hash = revision.content_hash
        return e

    def apply_event(self, event: Event, at: Position | None = None) -> None:
        """A change the catalog announced, as its own write raised it (``at`` None) or from its record on the topic
        (``at``: any record moves the change feed, a publication or withdrawal also the resource)."""
        if isinstance(event, ResourcePublished):
            self.apply_published(event.resource.model_dump(mode="json"), event.cursor, at=at)
        elif isinstance(event, ResourceWithdrawn):
            self.apply_withdrawn(event.resource_id, event.version, event.cursor, at=at)
        elif at is not None:
            self.feed.passed(*at)

    def apply_published(
        self, snapshot: dict[str, Any], cursor: str, index: bool = True, at: Position | None = None
    ) -> bool:
        """Apply a publication; ``at`` is its record on the topic (None: a local write, not on the topic yet)."""
        rid = snapshot["id"]
        e = self.entries.get(rid) or self.entries.setdefault(
            rid, Entry(id=rid, provider_id=snapshot["provider_id"], external_id=snapshot["external_id"])
        )
        if at is not None:  # even when the state is not newer: the feed shows the resource at its latest record
            self.feed.record(rid, *at)
        if cursor <= e.cursor:
            return False  # a redelivery or an older change (cursors are unique and time-ordered per change)
        self._leave_lesson(e)
        e.public = orjson.dumps(snapshot)
        e.public_version = snapshot["version"]
        e.cursor = cursor
        self._enter_lesson(rid, snapshot)
        if index:
            self.index.upsert([snapshot], self.popularity)
        return True

    def load_public(self, changes: dict[str, Any]) -> list[dict[str, Any]]:
        """Bulk form of :meth:`apply_published` / :meth:`apply_withdrawn` for a start-up load: ``changes`` maps
        a resource id to its last change (``cursor``, ``resource`` = snapshot or None when withdrawn,
        ``version``, ``at`` = its newest record on the topic, None for a change healed from the store: not on
        the topic, so not in the feed). Returns the snapshots that changed, for the caller to index."""
        indexed: list[dict[str, Any]] = []
        for rid, change in changes.items():
            e = self.entries.get(rid)
            if e is None:
                e = self.entries[rid] = Entry(id=rid)
            if change.at is not None:
                self.feed.record(rid, *change.at)
            if change.cursor <= e.cursor:
                continue
            self._leave_lesson(e)
            e.cursor = change.cursor
            snapshot = change.resource
            if snapshot is None:
                if e.public:
                    self.index.delete([rid])
                e.public = None
                e.withdrawn_version = change.version
                continue
            if not e.provider_id:
                e.provider_id, e.external_id = snapshot["provider_id"], snapshot["external_id"]
            e.public = orjson.dumps(snapshot)
            e.public_version = change.version
            self._enter_lesson(rid, snapshot)
            indexed.append(snapshot)
        return indexed

    def apply_withdrawn(self, rid: str, version: int, cursor: str, at: Position | None = None) -> bool:
        e = self.entries.get(rid) or self.entries.setdefault(rid, Entry(id=rid))
        if at is not None:
            self.feed.record(rid, *at)
        if cursor <= e.cursor:
            return False
        self._leave_lesson(e)
        e.public = None
        e.withdrawn_version = version
        e.cursor = cursor
        self.index.delete([rid])
        return True

    def _leave_lesson(self, e: Entry) -> None:
        """Take a resource out of the lesson its held public snapshot sits in (before that snapshot changes)."""
        if e.public:
            lesson = orjson.loads(e.public).get("lesson")
            if lesson:
                self.lesson_resources.get(lesson["lesson_id"], {}).pop(e.id, None)

    def _enter_lesson(self, rid: str, snapshot: dict[str, Any]) -> None:
        lesson = snapshot.get("lesson")
        if lesson:
            self.lesson_resources.setdefault(lesson["lesson_id"], {})[rid] = lesson["position"]

    def set_popularity(self, scores: dict[str, float]) -> None:
        changed = []
        for rid, score in scores.items():
            if self.popularity.get(rid) != score:
                self.popularity[rid] = score
                e = self.entries.get(rid)
                if e is not None and e.public:
                    changed.append(orjson.loads(e.public))
        if changed:
            self.index.upsert(changed, self.popularity)

    # --- queries ---------------------------------------------------------------------------------------
    def public(self, rid: str) -> dict[str, Any] | None:
        e = self.entries.get(rid)
        return orjson.loads(e.public) if e and e.public else None

    def changes_page(self, after: Sequence[int], limit: int) -> tuple[list[tuple[Entry, list[int]]], list[int]]:
        """A page of the change feed (see ``catalog.feed``): the entries in their current state, each with the
        position after it, and the next position."""
        items, following = self.feed.page(after, limit)
        return [(self.entries[rid], resume) for rid, resume in items], following
