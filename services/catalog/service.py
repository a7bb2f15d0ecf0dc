"""The catalog's application layer: commands (domain + store, events through the outbox), the bulk import, and
the start-up rebuild of the read model. HTTP and Kafka stay in api.py / consumers.py."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

import orjson
from pydantic import ValidationError

from catalog.domain.resource import Actor, Resource, ResourceContent, change_cursor
from catalog.domain.tree import TreeNode
from catalog.readmodel import ReadModel
from catalog.snapshot import TopicState, read_public_catalog
from catalog.store import REVISIONS, CatalogStore, RevisionConflict, revision_id, split_revision_id
from common.contracts import EVENT_TYPES
from common.contracts.base import Event
from common.contracts.catalog import ResourcePublished, ResourcePublishedV1, ResourceWithdrawn
from common.outbox import Change, Outbox
from common.problems import Problem

log = logging.getLogger("catalog.service")

SYSTEM_IMPORTER = Actor("system:import", frozenset({("ministry_admin", None)}))


def resource_id(provider_id: str, external_id: str) -> str:
    """Deterministic: the same external id of the same provider is always the same resource."""
    return "r" + hashlib.blake2b(f"{provider_id}\x00{external_id}".encode(), digest_size=10).hexdigest()


def content_hash(content: ResourceContent) -> str:
    return hashlib.blake2b(content.model_dump_json().encode(), digest_size=12).hexdigest()


def _compact(event: Event) -> dict[str, Any]:
    """A published event's snapshot is the revision's ``published`` field: stored once, not twice (the
    store's write volume is what limits the import)."""
    if isinstance(event, ResourcePublished):
        return event.model_dump(mode="json", exclude={"resource"})
    return event.model_dump(mode="json")


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


def _now() -> datetime:
    return datetime.now(UTC)


class CatalogService:
    def __init__(self, store: CatalogStore, outbox: Outbox, read: ReadModel, writes_wait_seconds: float = 5.0) -> None:
        self.store = store
        self.outbox = outbox
        self.read = read
        self._locks: dict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self.heads_ready = asyncio.Event()
        self.heads_stats: dict[str, Any] | None = None
        self.writes_wait_seconds = writes_wait_seconds

    # --- documents -------------------------------------------------------------------------------------
    @staticmethod
    def to_doc(r: Resource, rev: int) -> dict[str, Any]:
        """The revision document; the store adds the change's events (``CatalogStore.append``)."""
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

    def change(self, revisions: list[tuple[dict[str, Any], list[Event]]]) -> Change:
        """The outbox change of revisions and their events. Event ids are deterministic (resource, revision,
        position): a revision re-published after a crash carries the same ids."""
        return self.outbox.change(
            REVISIONS,
            {doc["_id"]: events for doc, events in revisions},
            ids={
                doc["_id"]: [f"{doc['id']}~{doc['rev']}~{i}" for i in range(len(events))] for doc, events in revisions
            },
        )

    @staticmethod
    def from_doc(doc: dict[str, Any]) -> Resource:
        fields = {k: v for k, v in doc.items() if k not in ("_id", "rev", "content_hash", "events")}
        fields["published"] = public_of(doc)
        return Resource.model_validate(fields)

    def _note(self, doc: dict[str, Any]) -> None:
        self.read.note_revision(
            {
                "id": doc["id"],
                "rev": doc["rev"],
                "state": doc["state"],
                "provider_id": doc["provider_id"],
                "external_id": doc["external_id"],
                "content_hash": doc["content_hash"],
            }
        )

    def _apply_events(self, events: list[Event]) -> None:
        for event in events:
            if isinstance(event, ResourcePublished):
                self.read.apply_published(event.resource.model_dump(mode="json"), event.cursor)
            elif isinstance(event, ResourceWithdrawn):
                self.read.apply_withdrawn(event.resource_id, event.version, event.cursor)

    # --- commands --------------------------------------------------------------------------------------
    async def load(self, rid: str) -> tuple[Resource, int]:
        entry = self.read.entries.get(rid)
        doc = await self.store.latest(rid, entry.rev if entry else 0)
        if doc is None:
            raise Problem(404, "Not Found", f"resource {rid} does not exist", code="not-found")
        self._note(doc)
        return self.from_doc(doc), doc["rev"]

    async def create(
        self, actor: Actor, external_id: str, provider_kind: str, provider_id: str, content: ResourceContent
    ) -> Resource:
        await self.writable()
        rid = resource_id(provider_id, external_id)
        resource, events = Resource.create(
            id=rid,
            external_id=external_id,
            provider_kind=provider_kind,
            provider_id=provider_id,
            content=content,
            actor=actor,
            now=_now(),
        )
        doc = self.to_doc(resource, 1)
        try:
            await self.store.append(doc, self.change([(doc, events)]))
        except RevisionConflict:
            raise Problem(
                409,
                "Duplicate external id",
                f"provider {provider_id} already has a resource with external id {external_id!r}",
                code="duplicate-external-id",
                resource_id=rid,
            ) from None
        self._note(doc)
        return resource

    async def command(self, rid: str, action: str, actor: Actor, **kwargs: Any) -> Resource:
        """Run one domain command on the newest revision and append the result (retried once when another
        replica appended first)."""
        await self.writable()
        async with self._locks[rid]:
            for attempt in range(3):
                resource, rev = await self.load(rid)
                events = getattr(resource, action)(actor=actor, now=_now(), **kwargs)
                doc = self.to_doc(resource, rev + 1)
                try:
                    # Stored with its events: the outbox relay publishes them, now or once Kafka is back.
                    await self.store.append(doc, self.change([(doc, events)]))
                except RevisionConflict:
                    if attempt == 2:
                        raise Problem(
                            409,
                            "Concurrent modification",
                            "the resource changed meanwhile; retry",
                            code="concurrent-modification",
                        ) from None
                    continue
                self._note(doc)
                self._apply_events(events)
                self.read.index.commit()
                return resource
        raise AssertionError("unreachable")

    # --- start-up ---------------------------------------------------------------------------------------
    async def start(self, kafka: dict[str, Any], group_id: str | None = None) -> dict[str, Any]:
        """What public reads need, before the replica serves: the tree (store, small documents), the public
        catalog from the compacted topic (up to its end offsets now) and the search index. What only the store
        knows comes later, in :meth:`load_heads`."""
        t0 = time.perf_counter()
        fresh = not self.read.entries

        seconds: dict[str, float] = {}

        async def load_nodes() -> int:
            n = 0
            async for node in self.store.scan_nodes():
                self.read.add_node(node)
                n += 1
            seconds["tree_seconds"] = time.perf_counter() - t0
            return n

        async def read_topic_and_index() -> tuple[int, int]:
            changes, records, ends = await read_public_catalog(kafka, group_id=group_id, client_id="catalog-snapshot")
            seconds["topic_seconds"] = time.perf_counter() - t0
            # Indexed while the tree is still coming from the store (FerretDB decodes it at ≈ 3k nodes/s): the
            # chunks yield to its cursor, so both finish about together instead of one after the other.
            snapshots = self.read.load_public(changes)
            self.read.feed.caught_up(ends)  # every record below the end offsets is in the read model now
            for i in range(0, len(snapshots), 2000):
                self.read.index.upsert(snapshots[i : i + 2000], self.read.popularity, new=fresh)
                await asyncio.sleep(0)
            self.read.index.commit()
            seconds["index_seconds"] = time.perf_counter() - t0 - seconds["topic_seconds"]
            return records, len(snapshots)

        (records, public), nodes = await asyncio.gather(read_topic_and_index(), load_nodes())
        self.read.link_orphans()
        t1 = time.perf_counter()
        return {
            "ready_seconds": t1 - t0,
            **seconds,
            "records": records,
            "nodes": nodes,
            "public": public,
        }

    async def load_heads(self) -> dict[str, Any]:
        """After the replica is ready: the editorial head of every resource (drafts, reviews, rejections are
        not on the public topic), the public state as the store has it (it heals a topic that lost records;
        normally every cursor is already held and nothing changes), and one outbox sweep for revisions a crash
        left unpublished, so that they go out before this replica's new revisions of the same resources. Writes
        wait for this (:meth:`writable`)."""
        t0 = time.perf_counter()
        latest: dict[str, tuple[int, str, bytes]] = {}  # rid → (rev, cursor, public snapshot) of the newest rev
        withdrawals: dict[str, tuple[int, int, str]] = {}  # rid → (rev, public version, cursor)
        n = 0
        async for doc in self.store.scan_revisions():
            rid, rev = split_revision_id(doc["_id"])
            self._note(doc)
            for e in doc["events"]:
                if e["type"] == ResourceWithdrawn.TYPE and rev > withdrawals.get(rid, (0, 0, ""))[0]:
                    withdrawals[rid] = (rev, e["data"]["version"], e["data"]["cursor"])
            if rev > latest.get(rid, (0, "", b""))[0]:
                public = public_of(doc)
                # The cursor of a publication is made of the snapshot's published_at (see Resource.publish).
                cursor = change_cursor(datetime.fromisoformat(public["published_at"]), rid) if public else ""
                latest[rid] = (rev, cursor, orjson.dumps(public) if public else b"")
            n += 1
            if n % 2000 == 0:
                await asyncio.sleep(0)
        t1 = time.perf_counter()
        missed: dict[str, TopicState] = {}
        for rid, (_rev, cursor, public) in latest.items():
            held = self.read.entries[rid].cursor
            if public and cursor > held:
                snap = orjson.loads(public)
                missed[rid] = TopicState(cursor, snap, snap["version"])
            elif not public and rid in withdrawals and withdrawals[rid][2] > held:
                _, version, cursor = withdrawals[rid]
                missed[rid] = TopicState(cursor, None, version)
        if missed:
            log.warning("%d public changes were in the store but not on the topic: applied", len(missed))
            self.read.index.upsert(self.read.load_public(missed), self.read.popularity)
            self.read.index.commit()
        try:
            await self.outbox.relay.sweep(min_age=0)
        except Exception:  # Kafka down: writes go on, the relay's own sweeps publish these when it is back
            log.warning("start-up outbox sweep failed; the relay retries", exc_info=True)
        relayed = self.outbox.relay.swept.documents  # by this sweep, or the relay's first one if it came first
        if relayed:
            log.warning("published the events of %d revisions a crash left unrelayed", relayed)
        self.heads_ready.set()
        return {
            "scan_seconds": t1 - t0,
            "total_seconds": time.perf_counter() - t0,
            "revisions": n,
            "resources": len(latest),
            "healed_from_store": len(missed),
            "relayed_at_start": relayed,
        }

    async def load_heads_in_background(self) -> None:
        """:meth:`load_heads`, retried until it succeeds (every step is idempotent)."""
        while True:
            try:
                self.heads_stats = await self.load_heads()
                log.info("catalog editorial heads loaded: %s", self.heads_stats)
                return
            except Exception:
                log.exception("loading the editorial heads failed; retrying in 5 s")
                await asyncio.sleep(5)

    async def writable(self) -> None:
        """Editorial writes and imports act on the heads: never on an incomplete set. Wait a short while for
        the start-up load, then answer 503 with Retry-After."""
        if self.heads_ready.is_set():
            return
        try:
            await asyncio.wait_for(self.heads_ready.wait(), self.writes_wait_seconds)
        except TimeoutError:
            raise Problem(
                503,
                "Starting",
                "this replica is still loading the editorial state from the store; retry shortly",
                code="loading-editorial-state",
                headers={"Retry-After": "10"},
            ) from None

    # --- bulk import ---------------------------------------------------------------------------------------
    async def import_jsonl(self, lines: list[bytes], actor: Actor, chunk: int = 2000) -> dict[str, Any]:
        """Idempotent by (provider, external id): unchanged lines are skipped, changed ones become a new
        published version. Returns counts and a per-line error report."""
        if not actor.is_ministry_admin:
            raise Problem(403, "Forbidden", "only ministry admins import", code="forbidden")
        await self.writable()
        t0 = time.perf_counter()
        errors: list[dict[str, Any]] = []
        counts = {"nodes_created": 0, "nodes_updated": 0, "created": 0, "updated": 0, "unchanged": 0}
        nodes: list[dict[str, Any]] = []
        docs: list[dict[str, Any]] = []
        raised: dict[str, list[Event]] = {}  # revision id → its events (no need to rebuild them from dicts)
        now = _now()
        seen: set[str] = set()
        pipeline = _WritePipeline(self, raised, errors)
        for number, raw in enumerate(lines, start=1):
            if len(docs) >= chunk:
                # The store writes this chunk (another process) while the next lines are parsed here.
                await pipeline.write(docs)
                docs = []
            if number % 500 == 0:
                await asyncio.sleep(0)  # a long import must not starve the consumers' heartbeats
            if not raw.strip():
                continue
            try:
                row = orjson.loads(raw)
                if not isinstance(row, dict):
                    raise Problem(422, "Invalid line", "each line is a JSON object with a type")
                kind = row.get("type")
                if kind == "node":
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
                        raise Problem(422, "Invalid node", errors=problems)
                    nodes.append({"_id": node.id, **node.model_dump(exclude={"id"})})
                elif kind == "resource":
                    content = ResourceContent.model_validate(row["content"])
                    rid = resource_id(row["provider_id"], row["external_id"])
                    if rid in seen:
                        raise Problem(409, "Duplicate external id", "the external id occurs twice in this import")
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
                            now=now,
                        )
                        rev = 1
                        counts["created"] += 1
                    else:
                        resource, rev = await self.load(rid)
                        resource.content = content
                        rev += 1
                        counts["updated"] += 1
                    events = resource.import_published(actor, now)
                    docs.append(self.to_doc(resource, rev))
                    raised[docs[-1]["_id"]] = events
                else:
                    raise Problem(422, "Unknown line type", f"type must be node or resource, not {kind!r}")
            except Problem as p:
                errors.append(
                    {"line": number, "status": p.status, "title": p.title, "detail": p.detail, "errors": p.errors}
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
        new_nodes = [n for n in nodes if n["_id"] not in self.read.nodes]
        for n in nodes:
            old = self.read.nodes.get(n["_id"])
            if old is not None and (old.title, old.order) != (n["title"], n["order"]):
                await self.store.replace_node(n)
                counts["nodes_updated"] += 1
                self.read.add_node(n)
        for i in range(0, len(new_nodes), 10000):
            await self.store.put_nodes(new_nodes[i : i + 10000])
        counts["nodes_created"] = len(new_nodes)
        for n in new_nodes:
            self.read.add_node(n)
        self.read.link_orphans()
        await pipeline.write(docs)
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


class _WritePipeline:
    """The write side of an import: one chunk in the store (with its events, see ``common.outbox``) while the
    previous one is applied to the read model and index, and the next one is being parsed. The outbox relay
    publishes the chunks' events meanwhile; the import waits for it only while it falls far behind a working
    Kafka (``relay_wait_seconds``), never for a Kafka that is down."""

    def __init__(self, service: CatalogService, raised: dict[str, list[Event]], errors: list[dict[str, Any]]) -> None:
        self.service = service
        self.raised = raised
        self.errors = errors
        self.store_seconds = 0.0
        self.relay_wait_seconds = 0.0
        self._writing: tuple[list[dict[str, Any]], asyncio.Task[set[str]]] | None = None

    async def _timed_write(self, part: list[dict[str, Any]]) -> set[str]:
        t = time.perf_counter()
        try:
            change = self.service.change([(d, self.raised[d["_id"]]) for d in part])
            return await self.service.store.append_many(part, change)
        finally:
            self.store_seconds += time.perf_counter() - t

    async def write(self, part: list[dict[str, Any]]) -> None:
        previous = self._writing
        self._writing = (part, asyncio.create_task(self._timed_write(part))) if part else None
        if previous is not None:
            await self._applied(*previous)

    async def drain(self) -> None:
        if self._writing is not None:
            await self._applied(*self._writing)
            self._writing = None

    async def _applied(self, part: list[dict[str, Any]], writing: asyncio.Task[set[str]]) -> None:
        collided = await writing
        ok = [d for d in part if d["_id"] not in collided]
        self.errors += [
            {
                "line": None,
                "status": 409,
                "title": "Concurrent modification",
                "detail": f"resource {d['id']} changed during the import; import again",
            }
            for d in part
            if d["_id"] in collided
        ]
        read = self.service.read
        snapshots = []
        for d in ok:
            self.service._note(d)
            snap = public_of(d)
            assert snap is not None
            for e in d["events"]:
                read.apply_published(snap, e["data"]["cursor"], index=False)
            snapshots.append(snap)
        read.index.upsert(snapshots, read.popularity)
        t = time.perf_counter()
        await self.service.outbox.relay.room()
        self.relay_wait_seconds += time.perf_counter() - t
