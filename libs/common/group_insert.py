"""Group commit of unique inserts through the outbox: many concurrent callers each insert one document with its
events, and the replica writes them together, as one outbox change (one pointer) and one unordered
``insert_many``.

Why: on FerretDB's SQLite backend every write is a transaction of its own, and a request that inserted its pointer
and then its document cost two of them, queued behind every other request's (a check-in submission: 133/s with
FerretDB at 168 % CPU). Written together, N requests cost two writes and the relay deletes one pointer.

How: :meth:`GroupInsert.insert` queues the document and waits for its own result. While no batch is being written,
a writer task takes what is queued (at most ``max_batch``, after ``linger`` seconds when set) and writes it; what
arrives meanwhile waits for the next batch, so batches grow with the load and a lone request waits for no one. Each
caller learns its own document's fate from ``BulkWriteError.details["writeErrors"]``, which names failed documents
by index, in an unordered insert on MongoDB and on FerretDB alike (every other document is written): True written,
False when its ``_id`` existed (nothing written, no event: the caller's conflict), or the write's error.

The outbox's guarantees hold per document as for a change of several documents (``common.outbox``): the pointer,
naming every document of the batch, is inserted before them, and if that fails none is written; a document is
acknowledged only once the store took it, its events inside; the relay publishes the events of the written ones
and deletes the pointer, and after a crash a sweep reads the documents back and publishes what they hold. Two
documents with the same ``_id`` never share a batch (the later waits for the next one, and is then refused as a
duplicate): the change keeps one event list per ``_id``.

With ``epoch`` (seconds), the batches of that long share one *epoch pointer* (``common.outbox``), inserted before the
first of them, instead of a pointer each that is inserted and then deleted: on FerretDB a pointer's insert and
delete cost a third to a half of what a batch of a dozen documents costs (``docs/BENCHMARKS.md``, class groups,
session 20), and its insert is a second round trip on the one writer's path, which every queued request waits
behind. The writer
retires the epoch when it is over (or when it has been idle that long), and at once when a batch's write failed
(that pointer is then left to a sweep); no batch starts under an epoch that is over.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pymongo.errors import BulkWriteError, WriteError

from common.contracts import Event
from common.outbox import Outbox
from common.store import DUPLICATE_KEY


@dataclass
class Pending:
    """One caller's document, its events (and their CloudEvents ids, or None for random ones), its answer."""

    doc: dict[str, Any]
    events: Sequence[Event]
    ids: Sequence[str] | None
    answer: asyncio.Future[bool]


def take(queue: deque[Pending], limit: int) -> list[Pending]:
    """The next batch, in arrival order: at most ``limit`` documents, no ``_id`` twice (a repeat stays queued, in
    its place, for a later batch), none whose caller stopped waiting (dropped: it was never acknowledged)."""
    batch: list[Pending] = []
    ids: set[Any] = set()
    kept: list[Pending] = []
    while queue and len(batch) < limit:
        pending = queue.popleft()
        if pending.answer.done():
            continue
        if pending.doc["_id"] in ids:
            kept.append(pending)
        else:
            ids.add(pending.doc["_id"])
            batch.append(pending)
    queue.extendleft(reversed(kept))
    return batch


class GroupInsert:
    """Concurrent inserts of ``collection``'s documents, each with its events, written in batches (module
    docstring). ``collection`` must be a source of ``outbox``."""

    def __init__(
        self, outbox: Outbox, collection: str, *, max_batch: int = 64, linger: float = 0.0, epoch: float = 0.0
    ) -> None:
        self.outbox, self.collection, self.max_batch, self.linger = outbox, collection, max_batch, linger
        self.epoch = epoch
        self.queue: deque[Pending] = deque()
        self.batches = 0  # written so far (tests and benchmarks read it)
        self._writer: asyncio.Task[None] | None = None
        self._current: tuple[str, float] | None = None  # the open epoch's pointer, and when it opened (monotonic)
        if epoch:
            outbox.relay.before_stop.append(self._retire_if_idle)

    async def insert(self, doc: dict[str, Any], events: Sequence[Event], ids: Sequence[str] | None = None) -> bool:
        """Insert ``doc`` with ``events`` in its outbox field: True once stored, False (nothing written, no event)
        when its ``_id`` was taken; the write's error otherwise (the document may or may not be stored: its
        pointer stays, and a sweep publishes its events if it is)."""
        answer: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self.queue.append(Pending(doc, events, ids, answer))
        if self._writer is None:
            # a task of its own: a caller that stops waiting (a client gone) does not cancel the others' write
            self._writer = asyncio.create_task(self._drain(), name=f"group-insert-{self.collection}")
        return await answer

    async def _drain(self) -> None:
        try:
            while self.queue:
                if self.linger and len(self.queue) < self.max_batch:
                    await asyncio.sleep(self.linger)
                batch = take(self.queue, self.max_batch)
                if batch:
                    await self._write(batch)
        finally:
            self._writer = None
            if self._current is not None:  # idle: the epoch ends when it is over, unless a batch comes first
                pointer, opened = self._current
                delay = max(0.0, opened + self.epoch - time.monotonic())
                asyncio.get_running_loop().call_later(delay, self._retire_idle, pointer)

    async def _epoch(self) -> str | None:
        """The pointer this batch is written under: the open epoch's, or a new one's once it is over."""
        if not self.epoch:
            return None
        if self._current is not None and time.monotonic() - self._current[1] < self.epoch:
            return self._current[0]
        self._retire()
        pointer = await self.outbox.open_epoch(self.collection)
        self._current = (pointer, time.monotonic())
        return pointer

    def _retire(self, *, failed: bool = False) -> None:
        if self._current is not None:
            self.outbox.relay.retire_epoch(self._current[0], failed=failed)
            self._current = None

    def _retire_idle(self, pointer: str) -> None:
        if self._current is not None and self._current[0] == pointer:
            self._retire_if_idle()

    def _retire_if_idle(self) -> None:
        if self._writer is None:  # (a batch being written keeps its epoch open: its pointer stays for a sweep)
            self._retire()

    async def _write(self, batch: list[Pending]) -> None:
        try:
            results = await self._insert(batch)
        except BaseException as exc:  # every caller of the batch learns it; a cancelled writer still stops
            error = exc if isinstance(exc, Exception) else RuntimeError("the batch's writer was cancelled")
            for pending in batch:
                if not pending.answer.done():
                    pending.answer.set_exception(error)
            if not isinstance(exc, Exception):
                raise
            return
        self.batches += 1
        for pending, result in zip(batch, results, strict=True):
            if pending.answer.done():
                continue  # the caller stopped waiting
            if isinstance(result, Exception):
                pending.answer.set_exception(result)
            else:
                pending.answer.set_result(result)

    async def _insert(self, batch: list[Pending]) -> list[bool | Exception]:
        epoch = await self._epoch()  # if this raises, nothing of the batch is written
        change = self.outbox.change(
            self.collection,
            {p.doc["_id"]: list(p.events) for p in batch},
            ids={
                p.doc["_id"]: list(p.ids) if p.ids is not None else [str(uuid.uuid4()) for _ in p.events] for p in batch
            },
            epoch=epoch,
        )
        field = change.source.field
        docs = [{**p.doc, field: change.entries(p.doc["_id"])} for p in batch]
        await change.announce()  # if this raises, nothing of the batch is written
        results: list[bool | Exception] = [True] * len(docs)
        try:
            await self.outbox.db[self.collection].insert_many(docs, ordered=False)
        except BulkWriteError as exc:
            if exc.details.get("writeConcernErrors"):
                self._retire(failed=True)  # its pointer stays for a sweep to settle what was written
                raise  # written, but perhaps not durably: the callers are not told it is stored
            for error in exc.details.get("writeErrors", []):
                code = error.get("code")
                results[error["index"]] = False if code == DUPLICATE_KEY else WriteError(error.get("errmsg"), code)
        except BaseException:
            self._retire(failed=True)  # the batch may or may not be stored: as above
            raise
        unwritten = {docs[i]["_id"] for i, r in enumerate(results) if r is not True}
        if len(unwritten) == len(docs):
            await change.abandon()
        else:
            change.commit(unwritten=unwritten)
        return results
