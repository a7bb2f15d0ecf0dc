"""The bulk import (JSONL, ministry admins): textbook tree nodes and already-reviewed resources, idempotent by
(provider, external id). Lines are parsed while the previous chunk is in the store (:class:`_WritePipeline`);
every bad line is reported with its number, and loses nothing that was valid."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson
from pydantic import ValidationError

from catalog.domain.resource import Actor, Resource, ResourceContent, resource_id
from catalog.domain.tree import TreeNode
from catalog.editorial import Editorial, now
from catalog.readmodel import ReadModel
from catalog.replica import Replica
from catalog.store import CatalogStore, content_hash
from common.contracts.base import Event
from common.contracts.catalog import ResourcePublished
from common.errors import DomainError, Forbidden
from common.outbox import Outbox

Revision = tuple[Resource, int, list[Event]]  # a resource, its new revision number, the events it raised


class _LineRefused(Exception):
    """A line that is not one the import can apply, as its report entry says (like a domain error's)."""

    def __init__(
        self, status: int, title: str, message: str | None = None, errors: list[dict[str, Any]] | None = None
    ) -> None:
        super().__init__(message or title)
        self.status, self.title, self.message, self.errors = status, title, message, errors


class Importer:
    def __init__(
        self, store: CatalogStore, outbox: Outbox, read: ReadModel, replica: Replica, editorial: Editorial
    ) -> None:
        self.store = store
        self.outbox = outbox
        self.read = read
        self.replica = replica
        self.editorial = editorial

    async def import_jsonl(self, lines: list[bytes], actor: Actor, chunk: int = 2000) -> dict[str, Any]:
        """Idempotent by (provider, external id): unchanged lines are skipped, changed ones become a new
        published version. Returns counts and a per-line error report."""
        if not actor.is_ministry_admin:
            raise Forbidden("only ministry admins import", code="forbidden")
        await self.replica.writable()
        t0 = time.perf_counter()
        errors: list[dict[str, Any]] = []
        counts = {"nodes_created": 0, "nodes_updated": 0, "created": 0, "updated": 0, "unchanged": 0}
        nodes: list[TreeNode] = []
        revisions: list[Revision] = []
        at = now()
        seen: set[str] = set()
        pipeline = _WritePipeline(self, errors)
        for number, raw in enumerate(lines, start=1):
            if len(revisions) >= chunk:
                # The store writes this chunk (another process) while the next lines are parsed here.
                await pipeline.write(revisions)
                revisions = []
            if number % 500 == 0:
                await asyncio.sleep(0)  # a long import must not starve the consumers' heartbeats
            if not raw.strip():
                continue
            try:
                row = orjson.loads(raw)
                if not isinstance(row, dict):
                    raise _LineRefused(422, "Invalid line", "each line is a JSON object with a type")
                kind = row.get("type")
                if kind == "node":
                    nodes.append(_node(row))
                elif kind == "resource":
                    content = ResourceContent.model_validate(row["content"])
                    rid = resource_id(row["provider_id"], row["external_id"])
                    if rid in seen:
                        raise _LineRefused(409, "Duplicate external id", "the external id occurs twice in this import")
                    seen.add(rid)
                    entry = self.read.entries.get(rid)
                    if entry and entry.public and entry.content_hash == content_hash(content):
                        counts["unchanged"] += 1
                        continue
                    if entry is None or entry.rev == 0:
                        # rev 0: known from the topic only, this store has no revision of it (the heads are
                        # complete here: writable() waited for them)
                        resource, _ = Resource.create(
                            id=rid,
                            external_id=row["external_id"],
                            provider_kind=row["provider_kind"],
                            provider_id=row["provider_id"],
                            content=content,
                            actor=actor,
                            now=at,
                        )
                        rev = 1
                        counts["created"] += 1
                    else:
                        resource, rev = await self.editorial.load(rid)
                        resource.content = content
                        rev += 1
                        counts["updated"] += 1
                    revisions.append((resource, rev, resource.import_published(actor, at)))
                else:
                    raise _LineRefused(422, "Unknown line type", f"type must be node or resource, not {kind!r}")
            except (_LineRefused, DomainError) as refused:
                errors.append(
                    {
                        "line": number,
                        "status": refused.status,
                        "title": refused.title,
                        "detail": refused.message,
                        "errors": refused.errors,
                    }
                )
            except ValidationError as exc:
                errors.append(
                    {
                        "line": number,
                        "status": 422,
                        "title": "Invalid line",
                        "errors": [{"field": ".".join(map(str, e["loc"])), "message": e["msg"]} for e in exc.errors()],
                    }
                )
            except (KeyError, ValueError, TypeError) as exc:
                errors.append({"line": number, "status": 422, "title": "Invalid line", "detail": str(exc)})
        t_parse = time.perf_counter()
        await self._put_nodes(nodes, counts)
        await pipeline.write(revisions)
        await pipeline.drain()
        t_store = time.perf_counter()
        self.read.index.commit()
        t_index = time.perf_counter()
        return {
            **counts,
            "errors": errors,
            "error_count": len(errors),
            "seconds": {
                "parse": round(t_parse - t0, 2),
                "store_and_kafka": round(t_store - t_parse, 2),
                "index_commit": round(t_index - t_store, 2),
                "store_writes": round(pipeline.store_seconds, 2),
                "kafka": round(pipeline.relay_wait_seconds, 2),
                "total": round(t_index - t0, 2),
            },
        }

    async def _put_nodes(self, nodes: list[TreeNode], counts: dict[str, int]) -> None:
        new_nodes = [n for n in nodes if n.id not in self.read.nodes]
        for n in nodes:
            old = self.read.nodes.get(n.id)
            if old is not None and (old.title, old.order) != (n.title, n.order):
                await self.store.replace_node(n)
                counts["nodes_updated"] += 1
                self.read.add_node(n)
        for i in range(0, len(new_nodes), 10000):
            await self.store.put_nodes(new_nodes[i : i + 10000])
        counts["nodes_created"] = len(new_nodes)
        for n in new_nodes:
            self.read.add_node(n)
        self.read.link_orphans()


def _node(row: dict[str, Any]) -> TreeNode:
    node = TreeNode(
        id=row["id"],
        type=row["node_type"],
        parent_id=row.get("parent_id"),
        title=row["title"],
        order=row.get("order", 0),
        stage=row["stage"],
        subject=row["subject"],
        grade=row.get("grade"),
        edition=row.get("edition"),
    )
    problems = node.validate_reference()
    if problems:
        raise _LineRefused(422, "Invalid node", errors=problems)
    return node


class _WritePipeline:
    """The write side of an import: one chunk in the store (with its events, see ``common.outbox``) while the
    previous one is applied to the read model and index, and the next one is being parsed. The outbox relay
    publishes the chunks' events meanwhile; the import waits for it only while it falls far behind a working
    Kafka (``relay_wait_seconds``), never for a Kafka that is down."""

    def __init__(self, importer: Importer, errors: list[dict[str, Any]]) -> None:
        self.importer = importer
        self.errors = errors
        self.store_seconds = 0.0
        self.relay_wait_seconds = 0.0
        self._writing: tuple[list[Revision], asyncio.Task[Any]] | None = None

    async def _timed_write(self, part: list[Revision]) -> Any:
        t = time.perf_counter()
        try:
            return await self.importer.store.append_many(part)
        finally:
            self.store_seconds += time.perf_counter() - t

    async def write(self, part: list[Revision]) -> None:
        previous = self._writing
        self._writing = (part, asyncio.create_task(self._timed_write(part))) if part else None
        if previous is not None:
            await self._applied(*previous)

    async def drain(self) -> None:
        if self._writing is not None:
            await self._applied(*self._writing)
            self._writing = None

    async def _applied(self, part: list[Revision], writing: asyncio.Task[Any]) -> None:
        written, collided = await writing
        self.errors += [
            {
                "line": None,
                "status": 409,
                "title": "Concurrent modification",
                "detail": f"resource {rid} changed during the import; import again",
            }
            for rid in collided
        ]
        read = self.importer.read
        cursors = {r.id: [e.cursor for e in events if isinstance(e, ResourcePublished)] for r, _, events in part}
        snapshots = []
        for revision, snapshot in written:
            read.note_revision(revision)
            for cursor in cursors[revision.id]:
                read.apply_published(snapshot, cursor, index=False)
            snapshots.append(snapshot)
        read.index.upsert(snapshots, read.popularity)
        t = time.perf_counter()
        await self.importer.outbox.relay.room()
        self.relay_wait_seconds += time.perf_counter() - t
