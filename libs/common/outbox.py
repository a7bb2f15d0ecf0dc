"""The outbox: a service's events stored atomically with the state change that raised them, then published by a
relay that runs continuously, whatever happened to Kafka or to the process in between.

FerretDB has no transactions, so "atomically" means "inside the same single-document write". A service's store
puts the events into the document it writes (a revision, a certificate, a ledger entry it inserts; or, for a
document updated in place, the same single-document update that changes it), as a list of entries
``{"id": event id, "type": CloudEvents type, "data": {...}, "p": change id}``. The change id ``p`` names a
*pointer* in the service's small ``outbox`` collection: ``{_id: change id, c: collection, d: [document ids],
n: events, at: time}``. Writing goes through a :class:`Change`::

    change = kit.outbox.change("revisions", {doc["_id"]: events}, abandon_on=(RevisionConflict,))
    doc["events"] = change.entries(doc["_id"])   # the events travel inside the state change
    async with change:                            # 1. inserts the pointer
        await store.append(doc)                   # 2. the state change, with its events
                                                  # 3. success: the relay gets the events in memory, at once

The relay (:class:`OutboxRelay`, started and stopped by ``ServiceKit``) publishes what local writes handed it
as soon as they commit, and sweeps the ``outbox`` collection every ``OUTBOX_SWEEP_SECONDS`` for pointers that no
relay holds in memory (a crash, a replica that stopped, a Kafka outage longer than the memory allows): it reads
the documents a pointer names, publishes the entries tagged with the pointer's id, then deletes the pointer.
Batches are bounded (``OUTBOX_BATCH_EVENTS``); while Kafka is down it backs off (0.5 s doubling to 10 s) and a
request whose state is stored has already been answered.

Why nothing is lost, and every event id is published at least once:

- The pointer is inserted *before* the state write, and the state write is not attempted if that insert fails.
  So every stored event has a pointer, unless the pointer was deleted, which happens only (a) after Kafka
  acknowledged every event it tags, (b) when the writer knows its write did not happen (a duplicate key:
  :meth:`Change.abandon`), or (c) when its documents still do not carry its events ``OUTBOX_ORPHAN_SECONDS``
  (default an hour) after it was written: the write it announced failed, or the process died before it. A store
  write still in flight an hour after it started is the one assumption.
- An event belongs to pointer P exactly when a document P names holds an entry tagged P. Reading the documents
  tells a sweep what was really written: a write that lost a race (another writer's revision under the same
  ``_id``), or an update lost to a concurrent one, publishes nothing, so no event announces state that is not
  stored. Documents of P not (yet) written are kept in P (it is narrowed to them) and looked at again.
- Pointers are small and few (one per change; an import chunk is one), so the sweep reads the whole collection
  in one pass, which FerretDB's scans make cheap only for a small collection. The state collections are read
  only on the recovery path, by ``_id``.
- An *epoch* pointer (``d`` None) is shared by many small changes of one writer over a short time
  (``common.group_insert``: a batch of inserts each, a second or less), so that each does not cost a pointer's insert
  and delete. It is inserted before the first of them; the writer starts none under it once the epoch is over;
  its relay deletes it only when the writer has retired it and every change of it is published, and never when
  one of its writes failed. Its documents are unknown in advance, so a sweep finds them by their entries' tag
  (``{field}.p``, one scan, on the recovery path only), and only ``OUTBOX_EPOCH_GRACE_SECONDS`` after the usual
  minimum age: the assumption, as the hour of orphans is for the others, is that a write started under it has
  landed by then.

Several replicas may publish the same event (a sweep picks up a pointer whose writer is still retrying, or dies
after Kafka's acknowledgement and before deleting the pointer): delivery is at-least-once and consumers drop
repeats by the CloudEvents id, which the outbox keeps stable (the caller may choose it, e.g. a certificate
number). Events of one process go out in the order of their changes (a failing batch blocks those behind it);
a crash-recovered event may reach its topic after a newer one of the same aggregate from another replica, so
consumers order by the versions the events carry.

A document updated in place keeps in its entries those of earlier changes that are not yet published, so that
a later update does not erase them: :meth:`Outbox.unpublished` says which (their pointers still exist).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from pymongo.asynchronous.database import AsyncDatabase

from common.contracts import EVENT_TYPES, Event
from common.observability import OUTBOX_PENDING, OUTBOX_RELAY_ERRORS

log = logging.getLogger("common.outbox")

POINTERS = "outbox"
Entry = dict[str, Any]


class Publisher(Protocol):
    async def publish_many(self, events: Sequence[Event], *, event_ids: Sequence[str] | None = None) -> None: ...


def _default_encode(event: Event) -> dict[str, Any]:
    return event.model_dump(mode="json")


def _default_decode(doc: dict[str, Any], entry: Entry) -> Event:
    return EVENT_TYPES[entry["type"]].model_validate(entry["data"])


@dataclass(frozen=True)
class Source:
    """A collection whose documents carry outbox entries in ``field``. ``encode``/``decode`` let a service store
    less than the whole event (the catalog keeps a published snapshot once, in the revision, not twice);
    ``projection`` limits what a sweep reads (None: the whole document, for a ``decode`` that needs it)."""

    collection: str
    field: str = "outbox"
    encode: Callable[[Event], dict[str, Any]] = _default_encode
    decode: Callable[[dict[str, Any], Entry], Event] = _default_decode
    projection: Sequence[str] | None = None


@dataclass(frozen=True)
class RelayOptions:
    sweep_seconds: float = 5.0
    sweep_min_age_seconds: float = 10.0
    orphan_seconds: float = 3600.0
    batch_events: int = 500
    publish_timeout_seconds: float = 15.0
    memory_events: int = 20_000
    epoch_grace_seconds: float = 60.0

    @classmethod
    def of(cls, settings: Any) -> RelayOptions:
        return cls(
            sweep_seconds=settings.outbox_sweep_seconds,
            sweep_min_age_seconds=settings.outbox_sweep_min_age_seconds,
            orphan_seconds=settings.outbox_orphan_seconds,
            batch_events=settings.outbox_batch_events,
            publish_timeout_seconds=settings.outbox_publish_timeout_seconds,
            memory_events=settings.outbox_memory_events,
            epoch_grace_seconds=settings.outbox_epoch_grace_seconds,
        )


class Outbox:
    """A service's outbox: the sources it writes events into, the writer's API (:meth:`change`) and its relay."""

    def __init__(
        self, db: AsyncDatabase, publisher: Publisher, service: str, options: RelayOptions | None = None
    ) -> None:
        self.db = db
        self.pointers = db[POINTERS]
        self.service = service
        self.sources: dict[str, Source] = {}
        self.relay = OutboxRelay(self, publisher, options or RelayOptions())

    def source(self, collection: str, **options: Any) -> Source:
        """Declare that documents of ``collection`` carry outbox entries (see :class:`Source`)."""
        self.sources[collection] = Source(collection, **options)
        return self.sources[collection]

    def change(
        self,
        collection: str,
        events: Mapping[str, Sequence[Event]],
        *,
        ids: Mapping[str, Sequence[str]] | None = None,
        abandon_on: tuple[type[BaseException], ...] = (),
        epoch: str | None = None,
    ) -> Change:
        """A change of documents of ``collection`` (by ``_id``) raising ``events``; ``ids`` the CloudEvents ids
        (default: random). As a context manager it announces itself on entry and, when the block raised one of
        ``abandon_on`` (errors that prove nothing was written), withdraws the announcement. ``epoch``: an open
        epoch pointer (:meth:`open_epoch`) that already announces it, instead of a pointer of its own."""
        if collection not in self.sources:
            raise KeyError(f"{collection} is not an outbox source of {self.service}")
        return Change(self, self.sources[collection], events, ids, abandon_on, epoch)

    async def open_epoch(self, collection: str) -> str:
        """Insert an epoch pointer for changes of ``collection`` to share (module docstring); its id. The caller
        retires it with :meth:`OutboxRelay.retire_epoch` once it writes no more under it."""
        if collection not in self.sources:
            raise KeyError(f"{collection} is not an outbox source of {self.service}")
        pointer = uuid.uuid4().hex
        await self.pointers.insert_one({"_id": pointer, "c": collection, "d": None, "n": 0, "at": datetime.now(UTC)})
        self.relay.open_epoch(pointer)
        return pointer

    async def unpublished(self, entries: Iterable[Entry]) -> list[Entry]:
        """Of the entries a document updated in place holds, those not yet published (their change's pointer
        still exists): the next update of the document keeps them beside its own. One read of the small
        pointer collection."""
        entries = list(entries)
        if not entries:
            return []
        pending = await self.alive({e["p"] for e in entries})
        return [e for e in entries if e["p"] in pending]

    async def alive(self, pointer_ids: Iterable[str]) -> set[str]:
        """Which of these changes' pointers still exist (their events are not all published yet)."""
        return {d["_id"] async for d in self.pointers.find({"_id": {"$in": list(pointer_ids)}}, {"_id": 1})}


class Change:
    """One state change's events, announced by a pointer before the write (see the module docstring)."""

    def __init__(
        self,
        outbox: Outbox,
        source: Source,
        events: Mapping[str, Sequence[Event]],
        ids: Mapping[str, Sequence[str]] | None,
        abandon_on: tuple[type[BaseException], ...],
        epoch: str | None = None,
    ) -> None:
        self.outbox, self.source, self.abandon_on, self.epoch = outbox, source, abandon_on, epoch
        self.id = epoch or uuid.uuid4().hex
        self.events: dict[str, list[tuple[str, Event]]] = {}
        self._entries: dict[str, list[Entry]] = {}
        for doc_id, raised in events.items():
            if not raised:
                continue  # a document without events is not the outbox's business
            event_ids = list(ids[doc_id]) if ids else [str(uuid.uuid4()) for _ in raised]
            if len(event_ids) != len(raised):
                raise ValueError(f"{doc_id}: {len(raised)} events, {len(event_ids)} ids")
            self.events[doc_id] = list(zip(event_ids, raised, strict=True))
            self._entries[doc_id] = [
                {"id": i, "type": e.TYPE, "data": source.encode(e), "p": self.id} for i, e in self.events[doc_id]
            ]
        self.size = sum(len(v) for v in self.events.values())
        self.announced = False

    def entries(self, doc_id: str) -> list[Entry]:
        """What the store writes into the document's outbox field, in the same write as the state."""
        return self._entries.get(doc_id, [])

    async def announce(self) -> None:
        """Insert the pointer (none under an epoch: its pointer exists). Must precede the state write: if this
        raises, do not write."""
        if not self.size or self.announced:
            return
        if self.epoch is not None:
            self.announced = True
            OUTBOX_PENDING.labels(self.outbox.service).inc(self.size)
            return
        pointer = {"_id": self.id, "c": self.source.collection, "d": list(self.events), "n": self.size}
        await self.outbox.pointers.insert_one({**pointer, "at": datetime.now(UTC)})
        self.announced = True
        OUTBOX_PENDING.labels(self.outbox.service).inc(self.size)

    def commit(self, unwritten: Iterable[str] = ()) -> None:
        """The documents are written, except ``unwritten`` (their ``_id`` held another writer's document): the
        relay publishes the events of the rest from memory, without reading them back."""
        if not self.announced:
            return
        skip = set(unwritten)
        events = [pair for doc_id, pairs in self.events.items() if doc_id not in skip for pair in pairs]
        docs = [doc_id for doc_id in self.events if doc_id not in skip] if self.epoch is not None else None
        self.outbox.relay.enqueue(self.id, events, self.size, docs)

    async def abandon(self) -> None:
        """Nothing was written (e.g. a duplicate ``_id``): delete the pointer now rather than let it expire.
        Best effort: a pointer left behind is resolved by the sweep all the same."""
        if not self.announced:
            return
        if self.epoch is not None:  # the epoch's pointer stays for its other changes
            OUTBOX_PENDING.labels(self.outbox.service).dec(self.size)
            return
        try:
            await self.outbox.pointers.delete_one({"_id": self.id})
            OUTBOX_PENDING.labels(self.outbox.service).dec(self.size)
        except Exception:
            log.warning("could not withdraw outbox pointer %s; the sweep will", self.id, exc_info=True)

    async def __aenter__(self) -> Change:
        await self.announce()
        return self

    async def __aexit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        if exc is None:
            self.commit()
        elif isinstance(exc, self.abandon_on):
            await self.abandon()
        # any other error: the write may or may not have happened; the pointer stays for the sweep to settle


# --- the relay's bookkeeping (pure) ----------------------------------------------------------------------
@dataclass
class Held:
    """A committed change as the relay holds it; ``events`` None when dropped from memory (read back); ``docs``
    the written documents of a change under an epoch pointer (read back by them, not by the whole epoch)."""

    pointer: str
    events: list[tuple[str, Event]] | None
    size: int
    docs: list[str] | None = None


@dataclass
class Found:
    """What a pointer's documents hold: its events, the documents still without them, and the verdict."""

    events: list[tuple[str, Entry, dict[str, Any]]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    verdict: str = "done"  # done | wait (narrow to ``missing``) | orphan (give up on ``missing``)


def resolve(
    pointer: dict[str, Any], docs: Mapping[str, dict[str, Any]], field_name: str, now: datetime, orphan_after: float
) -> Found:
    """Which entries of ``docs`` belong to ``pointer``, and what becomes of it once they are published."""
    found = Found()
    for doc_id in pointer["d"]:
        doc = docs.get(doc_id)
        mine = [e for e in (doc or {}).get(field_name) or () if e.get("p") == pointer["_id"]]
        if not mine:
            found.missing.append(doc_id)
        found.events += [(e["id"], e, doc) for e in mine]  # type: ignore[misc]
    if found.missing:
        at = _aware(pointer["at"])
        found.verdict = "orphan" if now - at >= timedelta(seconds=orphan_after) else "wait"
    return found


def take(queue: Iterable[Held], limit: int) -> list[Held]:
    """The changes at the head of the queue that make one publish of about ``limit`` events (at least one)."""
    out, n = [], 0
    for held in queue:
        if out and n + held.size > limit:
            break
        out.append(held)
        n += held.size
    return out


# --- the relay -------------------------------------------------------------------------------------------
@dataclass
class SweepStats:
    pointers: int = 0
    documents: int = 0
    events: int = 0
    orphans: int = 0


class OutboxRelay:
    """Publishes committed changes from memory at once, and sweeps the store for the rest (module docstring)."""

    def __init__(self, outbox: Outbox, publisher: Publisher, options: RelayOptions) -> None:
        self.outbox, self.publisher, self.options = outbox, publisher, options
        self.queue: deque[Held] = deque()
        self.held_events = 0
        self.healthy = True
        self.swept = SweepStats()  # what sweeps published since start (the catalog reports it)
        self._wake = asyncio.Event()
        self._progress = asyncio.Event()
        self._sweep_lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._failed = False
        self.epochs: set[str] = set()  # epoch pointers of this process still in the store (open or retired)
        self._open_epochs: set[str] = set()  # those a writer may still write under
        # called as the relay stops: an idle writer retires its epoch, so that its pointer goes with its last
        # change instead of waiting for the next process's sweep (and its events being published twice)
        self.before_stop: list[Callable[[], None]] = []

    @property
    def service(self) -> str:
        return self.outbox.service

    def enqueue(self, pointer: str, events: list[tuple[str, Event]], size: int, docs: list[str] | None = None) -> None:
        if self.held_events + len(events) > self.options.memory_events:
            self.queue.append(Held(pointer, None, size, docs))  # read back from the store when its turn comes
        else:
            self.queue.append(Held(pointer, events, size, docs))
            self.held_events += len(events)
        self._wake.set()

    def open_epoch(self, pointer: str) -> None:
        self.epochs.add(pointer)
        self._open_epochs.add(pointer)

    def retire_epoch(self, pointer: str, *, failed: bool = False) -> None:
        """The writer starts nothing more under ``pointer``: the relay deletes it once every change of it is
        published. ``failed``: one of its writes failed (its documents may be stored or not): it stays for a sweep
        to settle, as a failed change's own pointer does."""
        self._open_epochs.discard(pointer)
        if failed:
            self.epochs.discard(pointer)
        self._wake.set()

    def _settled_epochs(self) -> list[str]:
        """Retired epochs of which nothing is queued any more: their pointers can go."""
        queued = {h.pointer for h in self.queue}
        return [p for p in self.epochs - self._open_epochs if p not in queued]

    # --- lifecycle ---------------------------------------------------------------------------------------
    def start(self) -> None:
        if self._task is None and self.outbox.sources:
            self._stopping = False
            self._task = asyncio.create_task(self._run(), name=f"{self.service}-outbox-relay")

    async def stop(self, timeout: float = 10.0) -> None:  # noqa: ASYNC109 - the shutdown grace, as ServiceKit's
        """Publish what memory holds (one attempt, within ``timeout``), then stop; the rest stays in the store."""
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping = True
        for retire in self.before_stop:
            retire()
        self._wake.set()
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout)
        except TimeoutError:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        self.queue.clear()
        self.held_events = 0
        self.epochs.clear()  # what they announce stays in the store, for a sweep
        self._open_epochs.clear()
        self._progress.set()  # a bulk writer waiting for room goes on: the store holds the rest

    async def room(self) -> None:
        """Back-pressure for bulk writers: wait while the relay is publishing and holds more than half of what
        its memory may hold. Returns at once while Kafka fails (the writer goes on; the store keeps the events)."""
        while self._task is not None and self.healthy and self.held_events > self.options.memory_events // 2:
            self._progress.clear()
            await self._progress.wait()

    async def _run(self) -> None:
        backoff, next_sweep = 0.5, time.monotonic() + self.options.sweep_seconds
        while True:
            if self._stopping and not self.queue and not self._settled_epochs():
                return
            try:
                if not self._stopping and time.monotonic() >= next_sweep:
                    # (set first: a sweep that fails must not starve what memory holds)
                    next_sweep = time.monotonic() + self.options.sweep_seconds
                    stats = await self.sweep()
                    if stats.events >= self.options.batch_events * 10:
                        next_sweep = 0  # it hit its bound: recovery goes on at once, in bounded steps
                elif self.queue:
                    await self._publish_held()
                elif settled := self._settled_epochs():
                    await self._delete(settled)
                else:
                    self._wake.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), max(0.0, next_sweep - time.monotonic()))
                    continue
                backoff, self.healthy = 0.5, True
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._failed, self.healthy = True, False
                self._progress.set()
                OUTBOX_RELAY_ERRORS.labels(self.service, _reason(exc)).inc()
                log.warning(
                    "%s outbox relay: %s: %s; retrying in %.1fs", self.service, type(exc).__name__, exc, backoff
                )
                if self._stopping:
                    return  # shutting down: what is left stays in the store for the next sweep
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)

    # --- publishing from memory --------------------------------------------------------------------------
    async def _publish_held(self) -> None:
        batch = take(self.queue, self.options.batch_events)
        if self._failed:
            # After a failure another replica's sweep may have published some of these meanwhile.
            ids = [h.pointer for h in batch]
            alive = await self.outbox.alive(ids)
            self._failed = False
            if len(alive) < len(batch):
                self._forget([h for h in batch if h.pointer not in alive])
                return
        events: list[tuple[str, Event]] = []
        for held in batch:
            if held.events is not None:
                events += held.events
                continue
            read = await self._read_back(held)
            if read is None:  # undecodable: left to the sweeps (which log it), the rest goes on
                self.queue.remove(held)
                return
            events += read
        await self._publish(events)
        # an epoch's pointer goes with its last change, once retired; the others' with their change
        own = {h.pointer for h in batch if h.docs is None}
        self._forget(batch)
        await self._delete([*own, *self._settled_epochs()])

    async def _delete(self, pointers: list[str]) -> None:
        if pointers:
            await self.outbox.pointers.delete_many({"_id": {"$in": pointers}})
            self.epochs.difference_update(pointers)

    def _forget(self, batch: list[Held]) -> None:
        for held in batch:
            self.queue.remove(held)
            if held.events is not None:
                self.held_events -= len(held.events)
        OUTBOX_PENDING.labels(self.service).dec(sum(h.size for h in batch))
        self._progress.set()

    async def _read_back(self, held: Held) -> list[tuple[str, Event]] | None:
        pointer = await self.outbox.pointers.find_one({"_id": held.pointer})
        if pointer is None:
            return []  # another relay published it
        if held.docs is not None:  # one change of an epoch: its own documents, not the whole epoch's
            pointer["d"] = held.docs
        return self._decode(pointer, await self._find(pointer))

    def _decode(self, pointer: dict[str, Any], found: Found) -> list[tuple[str, Event]] | None:
        """The events of ``found``; None, logged and counted, when one cannot be read back (e.g. its contract
        changed incompatibly): the pointer stays, and the relay goes on with the others."""
        source = self.outbox.sources[pointer["c"]]
        try:
            return [(i, source.decode(doc, entry)) for i, entry, doc in found.events]
        except (KeyError, TypeError, ValueError) as exc:  # pydantic's ValidationError is a ValueError
            OUTBOX_RELAY_ERRORS.labels(self.service, "decode").inc()
            log.error("outbox pointer %s of %s: an event cannot be read back: %s", pointer["_id"], pointer["c"], exc)
            return None

    async def _publish(self, events: list[tuple[str, Event]]) -> None:
        size = self.options.batch_events
        for i in range(0, len(events), size):
            part = events[i : i + size]
            await asyncio.wait_for(
                self.publisher.publish_many([e for _, e in part], event_ids=[i for i, _ in part]),
                self.options.publish_timeout_seconds,
            )
            self._progress.set()

    # --- the sweep -----------------------------------------------------------------------------------------
    async def sweep(self, *, min_age: float | None = None) -> SweepStats:
        """Publish what pointers older than ``min_age`` (default ``OUTBOX_SWEEP_MIN_AGE_SECONDS``) name and no
        relay of this process holds, oldest first, up to ten batches; then delete or narrow the pointers."""
        min_age = self.options.sweep_min_age_seconds if min_age is None else min_age
        stats = SweepStats()
        async with self._sweep_lock:
            pointers = [p async for p in self.outbox.pointers.find({})]  # small by design: one pass
            # (an epoch pointer counts no events: those of this process's epochs are counted from its memory)
            epochs = sum(h.size for h in self.queue if h.docs is not None)
            OUTBOX_PENDING.labels(self.service).set(sum(p.get("n", 0) for p in pointers) + epochs)
            now = datetime.now(UTC)
            held = {h.pointer for h in self.queue} | self.epochs
            grace = self.options.epoch_grace_seconds  # an epoch pointer waits for writes started under it
            due = [
                p
                for p in pointers
                if p["_id"] not in held
                and now - _aware(p["at"]) >= timedelta(seconds=min_age + (grace if p["d"] is None else 0))
            ]
            for pointer in sorted(due, key=lambda p: _aware(p["at"])):
                if stats.events >= self.options.batch_events * 10:
                    break
                source = self.outbox.sources.get(pointer["c"])
                if source is None:
                    OUTBOX_RELAY_ERRORS.labels(self.service, "unknown_source").inc()
                    log.error(
                        "outbox pointer %s names %s, not a source of %s", pointer["_id"], pointer["c"], self.service
                    )
                    continue
                found = await self._find(pointer)
                events = self._decode(pointer, found)
                if events is None:
                    continue
                await self._publish(events)
                if found.verdict == "wait":
                    written = [d for d in pointer["d"] if d not in found.missing]
                    if written:  # narrowed to what is not written yet: published events are not sent again
                        await self.outbox.pointers.update_one(
                            {"_id": pointer["_id"]}, {"$set": {"d": found.missing, "n": pointer["n"] - len(events)}}
                        )
                else:
                    await self.outbox.pointers.delete_one({"_id": pointer["_id"]})
                    if found.verdict == "orphan":
                        stats.orphans += 1
                        OUTBOX_RELAY_ERRORS.labels(self.service, "orphan").inc()
                        log.warning(
                            "outbox pointer %s: %d document(s) of %s never carried its events; given up",
                            pointer["_id"],
                            len(found.missing),
                            pointer["c"],
                        )
                OUTBOX_PENDING.labels(self.service).dec(len(events) if found.verdict == "wait" else pointer["n"])
                stats.pointers += 1
                stats.documents += len(pointer["d"]) - len(found.missing)
                stats.events += len(events)
        for name in ("pointers", "documents", "events", "orphans"):
            setattr(self.swept, name, getattr(self.swept, name) + getattr(stats, name))
        if stats.events:
            log.info(
                "%s outbox sweep published %d event(s) of %d change(s)", self.service, stats.events, stats.pointers
            )
        return stats

    async def _find(self, pointer: dict[str, Any]) -> Found:
        source = self.outbox.sources[pointer["c"]]
        collection = self.outbox.db[source.collection]
        projection = None if source.projection is None else [source.field, *source.projection]
        docs: dict[str, dict[str, Any]] = {}
        if pointer["d"] is None:  # an epoch's: its documents are those holding entries tagged with it (one scan)
            async for doc in collection.find({f"{source.field}.p": pointer["_id"]}, projection):
                docs[doc["_id"]] = doc
            pointer["d"] = list(docs)
        else:
            ids = pointer["d"]
            for i in range(0, len(ids), self.options.batch_events):
                batch = ids[i : i + self.options.batch_events]
                async for doc in collection.find({"_id": {"$in": batch}}, projection):
                    docs[doc["_id"]] = doc
        return resolve(pointer, docs, source.field, datetime.now(UTC), self.options.orphan_seconds)


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _reason(exc: Exception) -> str:
    module = type(exc).__module__
    if isinstance(exc, TimeoutError) or module.startswith(("aiokafka", "faststream")):
        return "publish"
    if module.startswith(("pymongo", "bson")):
        return "store"
    return "other"
