"""The read side: what public reads answer from the replica's read model (the textbook tree, lists with facets,
search, detail, the change feed). No I/O: every replica holds the public catalog in memory (``catalog.readmodel``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from catalog.paging import encode_change_cursor, next_cursor
from catalog.readmodel import Entry, ReadModel
from common.errors import NotFound

_SUMMARY = (
    "id",
    "version",
    "kind",
    "title",
    "section",
    "column",
    "stages",
    "grades",
    "subjects",
    "provider_kind",
    "provider_id",
    "credit_hours",
    "published_at",
    "lesson",
)


def summary(s: dict[str, Any]) -> dict[str, Any]:
    """A published resource as lists show it."""
    return {k: s.get(k) for k in _SUMMARY}


class Browse:
    def __init__(self, read: ReadModel) -> None:
        self.read = read

    # --- the textbook tree ---------------------------------------------------------------------------------
    def versions(self, stage: str | None, subject: str | None, grade: int | None) -> list[dict[str, Any]]:
        """Textbook versions of a stage/subject; with a grade, those that have a volume of it."""
        nodes = self.read.nodes
        out = []
        for n in nodes.values():
            if n.type != "textbook_version" or (stage and n.stage != stage) or (subject and n.subject != subject):
                continue
            if grade is not None and not any(nodes[c].grade == grade for c in n.children if c in nodes):
                continue
            out.append(n.public())
        return sorted(out, key=lambda n: (n["stage"], n["subject"], n["id"]))

    def node(self, node_id: str, grade: int | None) -> dict[str, Any]:
        """A node with its children (of a grade, if given); a lesson lists its resources in order."""
        read = self.read
        n = read.nodes.get(node_id)
        if n is None:
            raise NotFound(f"no tree node {node_id}", code="not-found")
        children = [
            read.nodes[c].public()
            for c in n.children
            if c in read.nodes and (grade is None or read.nodes[c].grade == grade)
        ]
        body: dict[str, Any] = {**n.public(), "children": children}
        if n.type == "lesson":
            placed = sorted(read.lesson_resources.get(node_id, {}).items(), key=lambda kv: (kv[1], kv[0]))
            body["resources"] = [summary(s) for s in (read.public(rid) for rid, _ in placed) if s]
        return body

    # --- published resources -------------------------------------------------------------------------------
    def resources(
        self, filters: dict[str, str | None], order: str, limit: int, offset: int, facets: bool
    ) -> dict[str, Any]:
        read = self.read
        total, ids = read.index.list(filters, order, limit, offset)
        body: dict[str, Any] = {
            "total": total,
            "items": [summary(s) for s in map(read.public, ids) if s],
            "next_cursor": next_cursor(offset, limit, total),
        }
        if facets:
            body["facets"] = read.index.facets(filters)
        return body

    def published(self, rid: str) -> Entry:
        """A published resource's entry (its snapshot is served as stored)."""
        e = self.read.entries.get(rid)
        if e is None or e.public is None:
            raise NotFound(f"no published resource {rid}", code="not-found")
        return e

    def search(self, q: str, filters: dict[str, str | None], limit: int, offset: int, facets: bool) -> dict[str, Any]:
        read = self.read
        total, hits = read.index.search(q, filters, limit, offset)
        items = [{**summary(s), "score": round(h.score, 4)} for h in hits if (s := read.public(h.id))]
        body: dict[str, Any] = {"total": total, "items": items}
        if facets:
            body["facets"] = read.index.facets(filters, text=q)
        return body

    def changes(self, position: Sequence[int], limit: int) -> dict[str, Any]:
        """Each resource changed after ``position`` in its current state (see ``catalog.feed``)."""
        page, following = self.read.changes_page(position, limit)
        items = []
        for e, resume in page:
            cursor = encode_change_cursor(resume)  # resuming from an item's cursor skips nothing after it
            if e.public:
                items.append({"cursor": cursor, "op": "published", "id": e.id, "resource": orjson.loads(e.public)})
            else:
                items.append({"cursor": cursor, "op": "withdrawn", "id": e.id, "version": e.withdrawn_version})
        return {"items": items, "next": encode_change_cursor(following)}
