"""The only code that touches viewstats' database. Reads are by ``_id`` (``common.store.by_ids``: exact lookups
for a few ids, one ``$in`` read for many); writes are chunked bulk writes (``common.store.bulk_write``).

Collections (:func:`collection_of`): counter shard documents (see :mod:`viewstats.domain.counters`) in
``counts_m_<YYYYMMDDHH>``, ``counts_h_<YYYYMMDD>``, ``counts_d_<YYYYMM>`` and ``counts_total``; HLL sketches
``u:<day>:<kind>:p<nn>`` (``b`` = one BSON map value → sketch) in ``uniques_<YYYYMM>``; ``partitions`` (each
partition's minute watermark ``wm:p<nn>``); ``sources`` (``_id`` ``views``: the views topic the counters come
from, ``topic`` and ``topic_id``); and those of learning hours (:class:`LearningStore`). Maps with thousands of
entries (the per-resource counts, the per-resource sketches) are stored as one binary field: FerretDB's update
cost grows with the number of fields it changes (an ``$inc`` of 2,000 fields: ≈ 240 ms; ``$set`` of one 40 KB
binary: ≈ 15 ms).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable, Hashable, Iterable
from datetime import UTC, datetime
from typing import Any

import bson
from bson import Binary
from bson.errors import InvalidDocument
from pymongo import InsertOne, ReturnDocument, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DocumentTooLarge, DuplicateKeyError, OperationFailure, WriteError

from common.store import bulk_write, by_ids, insert_new
from viewstats.domain.counters import OTHER_RESOURCES, SUB_BUCKETS, TOTAL, DocCounts, shard_id
from viewstats.domain.learning import Certificate, Course, CourseChange, Credit, Progress, field_key
from viewstats.domain.source import Source


def collection_of(key: str) -> str:
    """The collection of a shard (its key or ``_id``): minute shards by hour, hour shards by day, day shards and
    sketches by month, the all-time totals in one.

    FerretDB scans the collection on every update, so a collection must stay small however long the platform
    runs: the minute of ``counts_m_2026112310`` that a flush updates is found among at most 720 shards, not among
    every minute ever counted (17,280 more each day). Old minutes go by dropping whole collections."""
    if key.startswith("d:total"):
        return "counts_total"
    digits = key[2:15].replace("-", "").replace("T", "")  # "2026-11-23T10" → "2026112310"
    match key[0]:
        case "m":
            return f"counts_m_{digits[:10]}"
        case "h":
            return f"counts_h_{digits[:8]}"
        case "d":
            return f"counts_d_{digits[:6]}"
        case "u":
            return f"uniques_{digits[:6]}"
    raise ValueError(f"not a viewstats shard: {key!r}")


# Server error codes of a write that no retry can make succeed: the document or the update is refused as such.
REFUSED_CODES = frozenset(
    {
        2,  # BadValue
        9,  # FailedToParse
        14,  # TypeMismatch
        52,  # DollarPrefixedFieldName
        56,  # EmptyFieldName
        57,  # DottedFieldName
        121,  # DocumentValidationFailure
        10334,  # BSONObjectTooLarge
        17419,  # the document grew past the maximum by an update
        17420,
    }
)


def refused_for_good(exc: BaseException) -> bool:
    """Whether a write failed for what it writes, not for an outage: retrying the same write can never succeed (a
    document over 16 MiB, a field name or value the server refuses). Outages (``common.store.STORE_UNAVAILABLE``)
    and anything unrecognised are not: those are retried."""
    if isinstance(exc, (DocumentTooLarge, InvalidDocument)):
        return True
    if isinstance(exc, BulkWriteError):
        errors = exc.details.get("writeErrors") or []
        return bool(errors) and all(e.get("code") in REFUSED_CODES for e in errors)
    if isinstance(exc, (WriteError, OperationFailure)):
        return exc.code in REFUSED_CODES
    return False


class Coalesced:
    """Identical reads in flight are made once: a caller asking what another caller's read in progress will
    answer awaits that read (Go's singleflight; nginx's cache lock). Many visitors ask the same totals, series and
    top lists at once, and on FerretDB each read scans its collection, so eight identical requests cost eight
    scans where one answers them all. A joined answer is at most one read older than the request."""

    def __init__(self) -> None:
        self._reads: dict[Hashable, asyncio.Future[Any]] = {}

    async def __call__(self, key: Hashable, read: Callable[[], Awaitable[Any]]) -> Any:
        future = self._reads.get(key)
        if future is None:
            future = self._reads[key] = asyncio.ensure_future(read())
            future.add_done_callback(lambda _: self._reads.pop(key, None))
        return await asyncio.shield(future)  # a caller that goes away does not cancel the others' read


def _encode_map(values: dict[str, Any]) -> Binary:
    return Binary(bson.encode(values))


def _decode_map(blob: bytes | None) -> dict[str, Any]:
    return bson.decode(blob) if blob else {}


def _small(dims: DocCounts) -> dict[str, dict[str, int]]:
    """The small maps of a shard to store: every dimension but the per-resource one, without zero counts."""
    return {d: {v: n for v, n in c.items() if n} for d, c in dims.items() if d != "res"}


def _small_maps(doc: dict[str, Any]) -> dict[str, Any]:
    """A shard's small maps (dimension → value → count): a minute shard's binary ``cb``, else ``c``."""
    return _decode_map(doc["cb"]) if "cb" in doc else doc.get("c", {})


ABSENT = -2  # the applied offset of a shard the store does not have (below any record's offset)


def _above_watermark(shard: str, minutes_above: str) -> bool:
    """Whether a counter shard cannot exist under a partition's minute watermark: minute shards above it, and the hour
    and day shards of later hours and days (they are written with their minutes). Never the all-time totals."""
    key = shard.rsplit(":", 1)[0]
    match key[0]:
        case "m":
            return key[2:] > minutes_above
        case "h":
            return key[2:] > minutes_above[:13]
        case "d":
            return not key.startswith(TOTAL) and key[2:] > minutes_above[:10]
    return False


class ViewStore:
    """Counter shards, sketches and the minute watermark of each partition. The watermark is what the store knows of
    which shards exist without reading them: ``apply`` raises it before writing minutes above it, so no minute shard
    (nor hour or day shard, written with their minutes) above a partition's mark exists, and
    :meth:`known_shard_states` answers those absent without a read (on FerretDB every read of many ids scans the
    collection: a catch-up spent two thirds of its time learning that the minutes it was about to create did not
    exist yet). The marks are held in memory for the partitions this process writes (``load_watermarks``)."""

    def __init__(self, db: AsyncDatabase) -> None:
        self.db = db
        self._coalesced = Coalesced()
        # partition → its watermark as last read or raised here; None or missing: unknown, every shard is read
        self._minutes_above: dict[int, str | None] = {}

    async def _shards(self, ids: Iterable[str], projection: dict[str, int] | None = None) -> dict[str, dict[str, Any]]:
        """The existing shards among ``ids``, read collection by collection (:func:`by_ids` in each)."""
        by_coll: dict[str, list[str]] = {}
        for i in ids:
            by_coll.setdefault(collection_of(i), []).append(i)
        found: dict[str, dict[str, Any]] = {}
        for coll, batch in by_coll.items():
            found.update(await by_ids(self.db[coll], batch, projection))
        return found

    # --- the aggregator's writes (single writer per partition) -------------------------------------------
    async def listed_resources(self, since: datetime | None = None) -> set[str]:
        """The resource ids the catalog published (``resources``, written by the catalog consumer), all of them or
        those recorded since ``since``."""
        query = {"at": {"$gte": since}} if since is not None else {}
        return {d["_id"] async for d in self.db.resources.find(query, {"_id": 1})}

    async def resource_titles(self, resource_ids: Iterable[str]) -> dict[str, str]:
        """The titles the catalog published for these resources (those recorded with one)."""
        found = self.db.resources.find({"_id": {"$in": list(resource_ids)}}, {"t": 1})
        return {d["_id"]: d["t"] async for d in found if d.get("t")}

    async def shard_states(self, ids: Iterable[str]) -> dict[str, tuple[int, Any]]:
        """``(o, what the writer holds)`` of existing counter shard documents (absent documents are not in the
        answer): the per-resource counts of an hour or day shard, the small maps of a minute shard, else None."""
        out: dict[str, tuple[int, Any]] = {}
        for i, doc in (await self._shards(ids, {"o": 1, "r": 1, "c": 1, "cb": 1})).items():
            if i[0] == "m":
                out[i] = (doc.get("o", -1), {d: Counter(c) for d, c in _small_maps(doc).items()})
            else:
                out[i] = (doc.get("o", -1), Counter(_decode_map(doc["r"])) if "r" in doc else None)
        return out

    async def known_shard_states(self, partition: int, ids: Iterable[str]) -> dict[str, tuple[int, Any]]:
        """:meth:`shard_states` of every id, ``(ABSENT, None)`` for those that do not exist: the partition's
        watermark answers for the shards above it, a read for the others."""
        ids = list(ids)
        above = self._minutes_above.get(partition)
        unread = set() if above is None else {i for i in ids if _above_watermark(i, above)}
        found = await self.shard_states([i for i in ids if i not in unread]) if len(unread) < len(ids) else {}
        return {i: found.get(i, (ABSENT, None)) for i in ids}

    async def load_watermarks(self, partitions: Iterable[int]) -> None:
        """Read the watermarks of the partitions this process now writes (one read for all of them)."""
        self._minutes_above.update(await self.minute_watermarks(partitions))

    def distrust_watermark(self, partition: int) -> None:
        """After a failed write (a zombie owner may have written shards above the mark): read every shard until the
        mark is loaded again."""
        self._minutes_above[partition] = None

    def watermark(self, partition: int) -> str | None:
        return self._minutes_above.get(partition)

    async def recorded_source(self, current: Source) -> Source:
        """The views topic this database counts (:mod:`viewstats.domain.source`): the one recorded, or ``current``,
        recorded now if none is (the first aggregator's insert wins; a database counted before sources were
        recorded takes the topic it was counting)."""
        doc = {"_id": "views", "topic": current.topic, "topic_id": current.topic_id, "at": datetime.now(UTC)}
        if await insert_new(self.db.sources, [doc]):
            stored = (await by_ids(self.db.sources, ["views"]))["views"]
            return Source(stored["topic"], stored["topic_id"])
        return current

    async def adopt_source(self, source: Source) -> list[str]:
        """Take ``source`` as the database's views topic: every counter shard's applied offset goes to -1 (below any
        record's, so the new topic's records count from its first), then the source is recorded. The counts stay.
        Run only while no aggregator writes (each keeps its partitions paused until the source is this one); a
        step cut short leaves the old source recorded and is run again. Returns the collections reset."""
        names = sorted(n for n in await self.db.list_collection_names() if n.startswith("counts_"))
        for name in names:
            await self.db[name].update_many({"o": {"$gt": -1}}, {"$set": {"o": -1}})
        doc = {"topic": source.topic, "topic_id": source.topic_id, "at": datetime.now(UTC)}
        await self.db.sources.replace_one({"_id": "views"}, doc, upsert=True)
        return names

    async def drop_minutes_before(self, hour: str) -> list[str]:
        """Drop the minute shards of the hours before ``hour`` (``"2026-10-27T10"``), a whole collection per hour:
        the retention of minute data, cheap on both stores (no scan, no per-document delete)."""
        cutoff = collection_of(f"m:{hour}")
        old = sorted(n for n in await self.db.list_collection_names() if n.startswith("counts_m_") and n < cutoff)
        for name in old:
            await self.db.drop_collection(name)
        return old

    async def minute_watermarks(self, partitions: Iterable[int]) -> dict[int, str]:
        """partition → the newest minute label its owners ever announced (see :meth:`announce_minutes`); a
        partition that never wrote a minute shard has ``""``."""
        partitions = list(partitions)
        found = await by_ids(self.db.partitions, [shard_id("wm", p) for p in partitions])
        return {p: found.get(shard_id("wm", p), {}).get("m", "") for p in partitions}

    async def announce_minutes(self, partition: int, newest: str) -> None:
        """Raise the partition's minute watermark to ``newest`` before writing minute shards up to it: then no
        minute shard above a partition's watermark exists, and its owner inserts such shards without reading
        them first (on FerretDB every read of many ids scans the collection: a catch-up spent two thirds of its
        time learning that the minutes it was about to create did not exist yet)."""
        await self.db.partitions.update_one({"_id": shard_id("wm", partition)}, {"$max": {"m": newest}}, upsert=True)

    async def apply(
        self,
        partition: int,
        offset: int,
        counts: dict[str, DocCounts],
        resources: dict[str, Counter[str]],
        sketches: dict[tuple[str, str], dict[str, bytes]],
        absent: Iterable[str] = (),
        *,
        minutes: dict[str, DocCounts],
    ) -> None:
        """One update per counter shard: ``$inc`` the small maps, ``$set`` the document's whole per-resource map
        ``resources[key]`` (the writer holds it), and ``$max`` the applied offset, together: a document is either
        wholly before or wholly after this flush (one document's update is atomic). A minute shard's small maps are
        written whole instead, as one binary field ``cb``: ``minutes[key]``, the stored maps plus this flush's (the
        writer holds them too). FerretDB's cost per field made the ≈ 50 ``$inc`` fields of a minute shard 5 times
        dearer than one binary field, and a catch-up writes 17,280 minute shards a day. A shard the writer read as
        ``absent`` is inserted instead (on FerretDB an insert costs 1–3 ms, an upsert first scans the collection:
        a catch-up creates most of its minute shards); if it exists after all (a zombie owner wrote it), the
        insert fails with a duplicate key and the caller re-reads and retries. ``sketches``: (day, kind) → every
        sketch of that kind and day (value → bytes), each group replacing its document. The partition's watermark
        is raised first when these counts reach minutes above it (:meth:`announce_minutes`)."""
        above = self._minutes_above.get(partition)
        newest = max((key[2:] for key in counts if key[0] == "m"), default="")
        if above is not None and newest > above:
            await self.announce_minutes(partition, newest)  # before any shard above the old mark
            self._minutes_above[partition] = newest
        absent = set(absent)
        by_coll: dict[str, list[UpdateOne | InsertOne]] = {}
        for key, dims in counts.items():
            _id = shard_id(key, partition)
            if key[0] == "m":
                whole = _encode_map(_small(minutes[key]))
                op: UpdateOne | InsertOne = (
                    InsertOne({"_id": _id, "o": offset, "cb": whole})
                    if _id in absent
                    else UpdateOne({"_id": _id}, {"$set": {"cb": whole}, "$max": {"o": offset}}, upsert=True)
                )
                by_coll.setdefault(collection_of(key), []).append(op)
                continue
            small = _small(dims)
            if _id in absent:
                doc: dict[str, Any] = {"_id": _id, "o": offset, "c": {d: c for d, c in small.items() if c}}
                if key in resources:
                    doc["r"] = _encode_map(resources[key])
                by_coll.setdefault(collection_of(key), []).append(InsertOne(doc))
                continue
            inc = {f"c.{d}.{v}": n for d, c in small.items() for v, n in c.items()}
            update: dict[str, Any] = {"$max": {"o": offset}}
            if inc:
                update["$inc"] = inc
            if key in resources:
                update["$set"] = {"r": _encode_map(resources[key])}
            by_coll.setdefault(collection_of(key), []).append(UpdateOne({"_id": _id}, update, upsert=True))
        for (day, kind), group in sketches.items():
            _id = shard_id(f"u:{day}:{kind}", partition)
            blobs = _encode_map({v: Binary(blob) for v, blob in group.items()})
            by_coll.setdefault(collection_of(_id), []).append(
                UpdateOne({"_id": _id}, {"$set": {"b": blobs}}, upsert=True)
            )
        for coll, ops in by_coll.items():
            await bulk_write(self.db[coll], ops)

    async def load_sketches(
        self, partitions: Iterable[int], days: Iterable[str]
    ) -> dict[int, list[tuple[str, str, bytes]]]:
        """partition → (day, scope, sketch) of those partitions' stored sketches: one read for all of them (on
        FerretDB every read scans the collection, so a dozen partitions read one by one cost a dozen scans)."""
        partitions, days = list(partitions), list(days)
        ids = [shard_id(f"u:{d}:{k}", p) for p in partitions for d in days for k in ("all", "prov", "res")]
        out: dict[int, list[tuple[str, str, bytes]]] = {p: [] for p in partitions}
        for doc in (await self._shards(ids)).values():
            _, day, kind, p = doc["_id"].split(":")
            for value, blob in _decode_map(doc.get("b")).items():
                out[int(p[1:])].append((day, "all" if kind == "all" else f"{kind}:{value}", bytes(blob)))
        return out

    # --- queries -----------------------------------------------------------------------------------------
    async def counts(
        self, granularity: str, buckets: list[str], dimension: str, partitions: int
    ) -> dict[str, Counter[str]]:
        """bucket → value → count, summed over the partition shards. Per-resource counts exist by hour and day
        (``res`` by minute is always empty)."""
        summed = await self._summed(granularity, tuple(buckets), "r" if dimension == "res" else "c", partitions)
        return {b: Counter(dims.get(dimension, ())) for b, dims in summed.items()}

    async def sub_buckets(
        self, granularity: str, buckets: list[str], partitions: int
    ) -> dict[str, tuple[int, Counter[str]]]:
        """bucket → (platform views of the hour or day bucket, its views by minute "MM" or by hour "HH"), summed
        over the partition shards."""
        summed = await self._summed(granularity, tuple(buckets), "c", partitions)
        sub = SUB_BUCKETS[granularity]
        return {b: (dims.get("all", {}).get("all", 0), Counter(dims.get(sub, ()))) for b, dims in summed.items()}

    async def _summed(
        self, granularity: str, buckets: tuple[str, ...], field: str, partitions: int
    ) -> dict[str, dict[str, Counter[str]]]:
        """bucket → dimension → value → count over the partition shards: the small maps (``field`` "c") or the
        per-resource map as dimension ``res`` ("r"). Identical reads in flight are made once; the answer is
        shared, so callers copy what they hand out."""
        return await self._coalesced(
            (granularity, buckets, field, partitions), lambda: self._sum(granularity, buckets, field, partitions)
        )

    async def _sum(
        self, granularity: str, buckets: tuple[str, ...], field: str, partitions: int
    ) -> dict[str, dict[str, Counter[str]]]:
        ids = [shard_id(f"{granularity}:{b}", p) for b in buckets for p in range(partitions)]
        out: dict[str, dict[str, Counter[str]]] = {b: {} for b in buckets}
        projection = {"r": 1} if field == "r" else {"c": 1, "cb": 1}
        for i, doc in (await self._shards(ids, projection)).items():
            dims = {"res": _decode_map(doc.get("r"))} if field == "r" else _small_maps(doc)
            summed = out[i[2:].rsplit(":", 1)[0]]
            for dim, values in dims.items():
                summed.setdefault(dim, Counter()).update(values)
        return out

    async def partition_resources(
        self, granularity: str, buckets: list[str], partitions: Iterable[int]
    ) -> dict[int, dict[str, Counter]]:
        """partition → bucket → resource → count of those partitions' own shards (what an owner seeds its memory
        from), in one read; the views past a map's cap (``OTHER_RESOURCES``) are no resource's."""
        ids = {shard_id(f"{granularity}:{b}", p): (p, b) for p in partitions for b in buckets}
        out: dict[int, dict[str, Counter]] = {p: {} for p, _ in ids.values()}
        for i, d in (await self._shards(ids, {"r": 1})).items():
            p, b = ids[i]
            out[p][b] = Counter(_decode_map(d.get("r")))
            out[p][b].pop(OTHER_RESOURCES, None)
        return out

    async def sketches(self, day: str, kind: str, value: str, partitions: int) -> list[bytes]:
        ids = [shard_id(f"u:{day}:{kind}", p) for p in range(partitions)]
        out = []
        for doc in (await self._shards(ids, {"b": 1})).values():
            blob = _decode_map(doc.get("b")).get(value)
            if blob is not None:
                out.append(bytes(blob))
        return out


CERTIFICATES = "certificates"


def _utc(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _course_of(doc: dict[str, Any]) -> Course:
    return Course(doc["_id"], doc.get("h"), doc.get("t"), bool(doc.get("withdrawn")))


def _course_fields(change: CourseChange) -> dict[str, Any]:
    """A withdrawal sets only the flag and the version: the hours and title stay as they were published."""
    if change.withdrawn:
        return {"withdrawn": True, "v": change.version}
    return {"h": change.credit_hours, "t": change.title, "v": change.version, "withdrawn": False}


def _progress_of(doc: dict[str, Any]) -> Progress:
    last = doc.get("t")
    return Progress(
        doc["_id"],
        doc.get("u", ""),
        doc.get("r", ""),
        doc.get("s", 0),
        doc.get("o", -1),
        _utc(last) if last is not None else None,
        doc.get("credited"),
    )


def _certificate_of(doc: dict[str, Any]) -> Certificate:
    return Certificate(doc["_id"], doc["u"], doc["r"], doc["h"], doc["y"], _utc(doc["at"]), doc.get("t"))


class LearningStore:
    """Learning hours (学时). Heartbeats are keyed by user, so one consumer (the owner of the user's partition)
    writes all of a user's documents: ``heartbeats`` (insert-only claims, ``_id`` = ``<user>|<event id>``: ``p``
    partition, ``o`` offset), ``progress`` (``<user>|<resource>``: user ``u``, resource ``r``, watched seconds ``s``,
    applied offset ``o``, time ``t`` of the last accepted heartbeat, ``credited`` certificate number), ``teachers``
    (``<user>``: the credits by course in ``k``: ``r``, hours ``h``, year ``y``, certificate ``c``) and the
    certificates it inserts (``_id`` = certificate number, insert-only: ``u``, ``r``, ``h``, ``y``, ``at``, title
    ``t``, each with its ``LearningCredited`` event in ``outbox``: an outbox source, ``common.outbox``).
    ``courses`` (``<resource>``: credit hours ``h``, title ``t``, version ``v``, ``withdrawn``) has one writer per
    resource: the owner of the resource's partition of the catalog topic. The short field names stay in here: the
    ledger and the API see :mod:`viewstats.domain.learning`'s types."""

    def __init__(self, db: AsyncDatabase) -> None:
        self.db = db

    # --- the heartbeats consumer -------------------------------------------------------------------------
    async def claim(self, beats: list[tuple[str, int, int]]) -> list[int]:
        """Insert one claim ``(claim id, partition, offset)`` per heartbeat; returns the indexes of those already
        claimed (by this very record in an earlier, interrupted delivery, or by a client retry's copy)."""
        return await insert_new(self.db.heartbeats, [{"_id": c, "p": p, "o": o} for c, p, o in beats])

    async def claims(self, claim_ids: Iterable[str]) -> dict[str, tuple[int, int]]:
        """claim id → (partition, offset) of the record that holds it."""
        return {i: (d["p"], d["o"]) for i, d in (await by_ids(self.db.heartbeats, claim_ids)).items()}

    async def progress(self, ids: Iterable[str]) -> dict[str, Progress]:
        return {i: _progress_of(d) for i, d in (await by_ids(self.db.progress, ids)).items()}

    async def add_seconds(
        self,
        progress_id: str,
        user_id: str,
        resource_id: str,
        seconds: int,
        offset: int,
        last_at: datetime | None = None,
    ) -> Progress:
        """``$inc`` the credited seconds, ``$max`` the applied offset and the time ``t`` of the last accepted
        heartbeat, in one single-document update."""
        latest: dict[str, Any] = {"o": offset} | ({"t": last_at} if last_at is not None else {})
        doc = await self.db.progress.find_one_and_update(
            {"_id": progress_id},
            {"$inc": {"s": seconds}, "$max": latest, "$setOnInsert": {"u": user_id, "r": resource_id}},
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        return _progress_of(doc)

    async def mark_credited(self, progress_id: str, certificate_id: str) -> None:
        await self.db.progress.update_one({"_id": progress_id}, {"$set": {"credited": certificate_id}})

    async def insert_certificate(self, cert: Certificate, outbox: list[dict[str, Any]]) -> tuple[Certificate, bool]:
        """Insert-only: the first insert wins (with its outbox entries ``outbox``); a repeat returns the stored
        certificate unchanged. Returns the stored certificate and whether this call inserted it."""
        doc = {"_id": cert.id, "u": cert.user_id, "r": cert.resource_id, "h": cert.hours, "y": cert.year}
        doc |= {"at": cert.at, "t": cert.title, "outbox": outbox}
        try:
            await self.db[CERTIFICATES].insert_one(doc)
            return cert, True
        except DuplicateKeyError:
            return _certificate_of(await self.db[CERTIFICATES].find_one({"_id": cert.id})), False

    async def record_teacher_credit(self, user_id: str, credit: Credit) -> None:
        """``$set`` of the course's entry: idempotent, so a replay writes the same value again."""
        entry = {"r": credit.resource_id, "h": credit.hours, "y": credit.year, "c": credit.certificate_id}
        await self.db.teachers.update_one(
            {"_id": user_id}, {"$set": {f"k.{field_key(credit.resource_id)}": entry}}, upsert=True
        )

    # --- the catalog consumer ----------------------------------------------------------------------------
    async def list_resources(
        self, resource_ids: Iterable[str], at: datetime, titles: dict[str, str] | None = None
    ) -> None:
        """Record resources the catalog published, with their titles (``t``, for the dashboard's top lists). An id
        is inserted once, ``at`` its first publication: views of ids not recorded here are kept out of
        per-resource counts (``viewstats.listing`` reads new ids by ``at``). A known resource's new title is set
        in place (``at`` untouched), after one read of the republished ones: a bulk import inserts only."""
        ids = list(dict.fromkeys(resource_ids))
        titles = titles or {}
        if not ids:
            return
        docs = [{"_id": r, "at": at} | ({"t": titles[r]} if r in titles else {}) for r in ids]
        known = [ids[i] for i in await insert_new(self.db.resources, docs)]
        retitled = {r: titles[r] for r in known if r in titles}
        if retitled:
            found = self.db.resources.find({"_id": {"$in": list(retitled)}}, {"t": 1})
            stored = {d["_id"]: d.get("t") async for d in found}
            changed = [UpdateOne({"_id": r}, {"$set": {"t": t}}) for r, t in retitled.items() if stored.get(r) != t]
            if changed:
                await bulk_write(self.db.resources, changed)

    async def set_courses(self, changes: dict[str, CourseChange]) -> None:
        """Courses are created only by a publication that carries credit hours; other changes update a course
        already known (a new version without hours, a withdrawal) and are no-ops for other resources."""
        if not changes:
            return
        courses = {r: _course_fields(c) for r, c in changes.items()}
        # Every catalog resource passes by, few are courses. On FerretDB an update by _id scans the collection
        # while an insert does not: learn which are known in one pass, insert the new courses, update the known
        # ones, and write nothing for the rest. (One consumer owns each resource's partition: no race.)
        known = {d["_id"] async for d in self.db.courses.find({"_id": {"$in": list(courses)}}, {"_id": 1})}
        new = [{"_id": r, **c} for r, c in courses.items() if r not in known and c.get("h")]
        if new:
            await self.db.courses.insert_many(new, ordered=False)
        updates = [UpdateOne({"_id": r}, {"$set": c}) for r, c in courses.items() if r in known]
        if updates:
            await bulk_write(self.db.courses, updates)

    async def courses(self, resource_ids: Iterable[str]) -> dict[str, Course]:
        return {r: _course_of(d) for r, d in (await by_ids(self.db.courses, resource_ids)).items()}

    # --- queries -----------------------------------------------------------------------------------------
    async def credits(self, user_id: str) -> list[Credit]:
        """The teacher's finished courses."""
        doc = await self.db.teachers.find_one({"_id": user_id}) or {}
        return [Credit(e["r"], e["h"], e["y"], e["c"]) for e in doc.get("k", {}).values()]

    async def certificate(self, certificate_id: str) -> Certificate | None:
        doc = await self.db.certificates.find_one({"_id": certificate_id})
        return _certificate_of(doc) if doc is not None else None
