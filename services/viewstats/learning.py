"""Learning hours (学时): heartbeats → watched seconds per (teacher, course) → one credit per finished course.

Two chassis consumers (``ServiceKit.consumer``: commit after the handler, dead letters, metrics):

- ``viewstats-catalog`` reads ``catalog.resources.v1`` and keeps the courses (resources with
  ``credit_hours``) by resource id;
- ``viewstats-learning`` reads ``viewstats.heartbeats.v1`` (keyed by user id, so one consumer writes all of
  a user's documents) and applies each distinct heartbeat exactly once, whatever is redelivered:

  1. **claim**: insert ``{_id: "<user>|<event id>", p, o}`` per heartbeat (insert-only, unique ``_id``,
     atomic). A failed insert means the claim exists: held by the same (partition, offset), it is this very
     record delivered again; held by another offset, it is a client's retry and is dropped (for ever, not
     within a window);
  2. **add**: per (user, course) one single-document update ``$inc`` seconds + ``$max`` applied offset ``o``
     + ``$max`` time ``t`` of the last accepted heartbeat. The seconds are what the server's clock allows
     (``domain.learning.credited_seconds``: never more than the time elapsed since ``t``). A redelivered record
     is added only when its offset is above ``o``, against the same stored ``t``: a batch that died between the
     claims and the updates, or between two updates, is completed exactly;
  3. **credit**: a progress document whose seconds reach the course's required time gets a certificate,
     inserted with ``_id`` = certificate number (derived from user and course: one per course per teacher)
     and, inside it, its ``LearningCredited`` event (the certificates are an outbox source, ``common.outbox``:
     the relay publishes the event with the certificate number as its CloudEvents id, now or once Kafka is
     back), then the teacher's entry ``$set`` (idempotent) and ``credited`` marked. A replay finds the
     certificate and writes no second event: the first insert's outbox pointer stays until its event is on
     Kafka. Consumers drop a repeated CloudEvents id (a relay that dies after Kafka's acknowledgement).

A heartbeat for a resource that is not (yet) a known course accumulates seconds; the credit is checked again at
the teacher's next heartbeat on it (the catalog publishes a course before anyone can watch it).
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

from common.contracts.catalog import ResourcePublished, ResourceWithdrawn
from common.contracts.viewstats import HeartbeatRecorded, LearningCredited
from common.messaging import Envelope
from common.outbox import Outbox
from viewstats.domain.learning import (
    MAX_HEARTBEAT_SECONDS,
    Beat,
    beats_to_count,
    certificate_id,
    credit_id,
    credit_year,
    credited_seconds,
    field_key,
    finishing_time,
    required_seconds,
)
from viewstats.store import CERTIFICATES, LearningStore


def declare_outbox(outbox: Outbox) -> None:
    """Certificates carry their ``LearningCredited`` event (in the default ``outbox`` field)."""
    outbox.source(CERTIFICATES)


class Ledger:
    def __init__(
        self, store: LearningStore, outbox: Outbox, certificate_key: bytes, course_cache_seconds: float = 30.0
    ) -> None:
        self.store = store
        self.outbox = outbox
        self.key = certificate_key
        self.course_cache_seconds = course_cache_seconds
        self._courses: dict[str, tuple[float, dict[str, Any] | None]] = {}

    # --- courses (viewstats-catalog) ---------------------------------------------------------------------
    async def on_catalog(self, envelopes: list[Envelope]) -> None:
        changes: dict[str, dict[str, Any]] = {}
        for env in envelopes:
            event = env.event
            if isinstance(event, ResourcePublished):
                hours = event.resource.credit_hours or event.credit_hours
                changes[event.resource.id] = {
                    "h": hours,
                    "t": event.resource.title,
                    "v": event.resource.version,
                    "withdrawn": False,
                }
            elif isinstance(event, ResourceWithdrawn):
                changes[event.resource_id] = {"withdrawn": True, "v": event.version}
        await self.store.set_courses(changes)
        # Every published resource, course or not: the aggregator counts views per resource only for these.
        listed = [e.event.resource.id for e in envelopes if isinstance(e.event, ResourcePublished)]
        await self.store.list_resources(listed, datetime.now(UTC))
        for rid in changes:
            self._courses.pop(rid, None)  # this replica reads the new state at once; others within the TTL

    async def courses(self, resource_ids: set[str]) -> dict[str, dict[str, Any]]:
        now = time.monotonic()
        fresh = {r: c for r, (t, c) in ((r, self._courses.get(r, (0.0, None))) for r in resource_ids) if t > now}
        missing = resource_ids - fresh.keys()
        if missing:
            found = await self.store.courses(missing)
            for r in missing:
                fresh[r] = found.get(r)
                self._courses[r] = (now + self.course_cache_seconds, fresh[r])
            if len(self._courses) > 100_000:
                self._courses.clear()
        return {r: c for r, c in fresh.items() if c and c.get("h") and not c.get("withdrawn")}

    # --- heartbeats (viewstats-learning) -----------------------------------------------------------------
    async def on_heartbeats(self, envelopes: list[Envelope]) -> None:
        beats = [
            Beat(
                env.id,
                env.partition,
                env.offset,
                env.event.user_id,
                env.event.resource_id,
                min(env.event.seconds, MAX_HEARTBEAT_SECONDS),
                env.event.at if env.event.at.tzinfo else env.event.at.replace(tzinfo=UTC),
            )
            for env in envelopes
            if isinstance(env.event, HeartbeatRecorded)
        ]
        await self.apply(beats)

    async def apply(self, beats: list[Beat]) -> None:
        beats = sorted(beats, key=lambda b: (b.partition, b.offset))
        failed = await self.store.claim([(b.claim_id, b.partition, b.offset) for b in beats])
        claimed_by: dict[int, tuple[int, int]] = {}
        if failed:
            claims = await self.store.claims(beats[i].claim_id for i in failed)
            for i in failed:
                c = claims.get(beats[i].claim_id)
                claimed_by[i] = (c["p"], c["o"]) if c else (-1, -1)
        # The stored state of every touched progress: its applied offset, and the time of its last accepted
        # heartbeat, which bounds what the next ones may credit (one writer per user: nobody moves it meanwhile).
        found = await self.store.progress({b.progress_id for b in beats})
        applied = {pid: d.get("o", -1) for pid, d in found.items()}
        plan = beats_to_count(beats, claimed_by, applied)
        docs: dict[str, dict[str, Any]] = {}
        credits: dict[str, list[int]] = {}

        async def add(pid: str, counted: list[Beat]) -> None:
            first = counted[0]
            last = found.get(pid, {}).get("t")
            if last is not None and last.tzinfo is None:
                last = last.replace(tzinfo=UTC)
            credits[pid], last = credited_seconds(counted, last)
            offset = max(b.offset for b in counted)
            docs[pid] = await self.store.add_seconds(
                pid, first.user_id, first.resource_id, sum(credits[pid]), offset, last
            )

        await asyncio.gather(*(add(pid, counted) for pid, counted in plan.items()))
        courses = await self.courses({b.resource_id for b in beats})
        # Documents touched by nothing new may still lack their credit (a delivery that died mid-credit).
        for b in beats:
            if b.progress_id not in docs and b.resource_id in courses and b.progress_id in found:
                docs[b.progress_id] = found[b.progress_id]
        last_at: dict[str, datetime] = {}
        for b in beats:
            last_at[b.progress_id] = max(b.at, last_at.get(b.progress_id, b.at))
        due = []
        for pid, doc in docs.items():
            course = courses.get(doc["r"])
            if course is None or doc.get("credited"):
                continue
            need = required_seconds(course["h"])
            if doc["s"] < need:
                continue
            counted, credited = plan.get(pid, []), credits.get(pid, [])
            before = doc["s"] - sum(credited)
            at = finishing_time(before, [(c, b.at) for c, b in zip(credited, counted, strict=True)], need)
            due.append((pid, doc, course, at or last_at[pid]))
        if due:
            await self.credit(due)

    async def credit(self, due: list[tuple[str, dict[str, Any], dict[str, Any], datetime]]) -> None:
        new = []
        for _pid, doc, course, at in due:
            number = certificate_id(self.key, doc["u"], doc["r"])
            new.append(
                {"_id": number, "u": doc["u"], "r": doc["r"], "h": float(course["h"]), "y": credit_year(at), "at": at}
                | {"t": course.get("t")}
            )
        change = self.outbox.change(
            CERTIFICATES,
            {c["_id"]: [_credited(c)] for c in new},
            ids={c["_id"]: [c["_id"]] for c in new},  # the certificate number is the CloudEvents id
        )
        await change.announce()
        docs = [c | {"outbox": change.entries(c["_id"])} for c in new]
        certs = await asyncio.gather(*(self.store.insert_certificate(d) for d in docs))
        # A certificate already stored (a replay) holds its own event, whose pointer stays until it is published.
        change.commit(unwritten=[d["_id"] for d, stored in zip(docs, certs, strict=True) if stored is not d])

        async def record(cert: dict[str, Any]) -> None:
            entry = {"r": cert["r"], "h": cert["h"], "y": cert["y"], "c": cert["_id"]}
            await self.store.record_teacher_credit(cert["u"], field_key(cert["r"]), entry)

        await asyncio.gather(*(record(cert) for cert in certs))
        await asyncio.gather(
            *(self.store.mark_credited(pid, cert["_id"]) for (pid, *_), cert in zip(due, certs, strict=True))
        )


def _credited(cert: dict[str, Any]) -> LearningCredited:
    return LearningCredited(
        credit_id=credit_id(cert["u"], cert["r"]),
        user_id=cert["u"],
        resource_id=cert["r"],
        hours=cert["h"],
        year=cert["y"],
        certificate_id=cert["_id"],
        credited_at=cert["at"] if cert["at"].tzinfo else cert["at"].replace(tzinfo=UTC),
    )
