"""A replica's start: what public reads need before it serves (the tree, the public catalog from the compacted
topic, the search index), then, in the background, the editorial heads from the store and one outbox sweep.
Editorial writes and imports wait for the heads (:meth:`Replica.writable`)."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime
from typing import Any

import orjson

from catalog.domain.resource import change_cursor
from catalog.readmodel import ReadModel
from catalog.snapshot import TopicState, read_public_catalog
from catalog.store import CatalogStore
from common.outbox import Outbox
from common.problems import Problem

log = logging.getLogger("catalog.replica")


class Replica:
    def __init__(self, store: CatalogStore, outbox: Outbox, read: ReadModel, writes_wait_seconds: float = 5.0) -> None:
        self.store = store
        self.outbox = outbox
        self.read = read
        self.heads_ready = asyncio.Event()
        self.heads_stats: dict[str, Any] | None = None
        self.writes_wait_seconds = writes_wait_seconds

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
        async for scanned in self.store.scan_revisions():
            revision = scanned.revision
            rid, rev = revision.id, revision.rev
            self.read.note_revision(revision)
            if scanned.withdrawal and rev > withdrawals.get(rid, (0, 0, ""))[0]:
                withdrawals[rid] = (rev, *scanned.withdrawal)
            if rev > latest.get(rid, (0, "", b""))[0]:
                public = scanned.public
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
        the start-up load, then answer 503 with Retry-After (the replica's state, not a domain rule: no domain
        error says "not yet")."""
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
