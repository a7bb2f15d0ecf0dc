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

from common.contracts.catalog import ResourcePublished, ResourceWithdrawn
from common.contracts.viewstats import HeartbeatRecorded, LearningCredited
from common.messaging import Envelope
from common.outbox import Outbox
from viewstats.domain.learning import (
    MAX_HEARTBEAT_SECONDS,
    Beat,
    Certificate,
    Course,
    CourseChange,
    Credit,
    Progress,
    beats_to_count,
    certificate_id,
    credit_id,
    credit_year,
    credited_seconds,
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
        self._courses: dict[str, tuple[float, Course | None]] = {}

    # --- courses (viewstats-catalog) ---------------------------------------------------------------------
    async def on_catalog(self, envelopes: list[Envelope]) -> None:
        changes: dict[str, CourseChange] = {}
        for env in envelopes:
            event = env.event
            if isinstance(event, ResourcePublished):
                changes[event.resource.id] = CourseChange(
                    event.resource.version,
                    credit_hours=event.resource.credit_hours or event.credit_hours,
                    title=event.resource.title,
                )
            elif isinstance(event, ResourceWithdrawn):
                changes[event.resource_id] = CourseChange(event.version, withdrawn=True)
        await self.store.set_courses(changes)
        # Every published resource, course or not: the aggregator counts views per resource only for these.
        published = [e.event.resource for e in envelopes if isinstance(e.event, ResourcePublished)]
        titles = {r.id: r.title for r in published}
        await self.store.list_resources(titles, datetime.now(UTC), titles)
        for rid in changes:
            self._courses.pop(rid, None)  # this replica reads the new state at once; others within the TTL

    async def courses(self, resource_ids: set[str]) -> dict[str, Course]:
        """The courses among ``resource_ids`` that credit hours now (cached ``course_cache_seconds``)."""
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
        return {r: c for r, c in fresh.items() if c is not None and c.credits}

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
                claimed_by[i] = claims.get(beats[i].claim_id, (-1, -1))
        # The stored state of every touched progress: its applied offset, and the time of its last accepted
        # heartbeat, which bounds what the next ones may credit (one writer per user: nobody moves it meanwhile).
        found = await self.store.progress({b.progress_id for b in beats})
        applied = {pid: p.applied for pid, p in found.items()}
        plan = beats_to_count(beats, claimed_by, applied)
        progress: dict[str, Progress] = {}
        credits: dict[str, list[int]] = {}

        async def add(pid: str, counted: list[Beat]) -> None:
            first = counted[0]
            last = found[pid].last_at if pid in found else None
            credits[pid], last = credited_seconds(counted, last)
            offset = max(b.offset for b in counted)
            progress[pid] = await self.store.add_seconds(
                pid, first.user_id, first.resource_id, sum(credits[pid]), offset, last
            )

        await asyncio.gather(*(add(pid, counted) for pid, counted in plan.items()))
        courses = await self.courses({b.resource_id for b in beats})
        # Documents touched by nothing new may still lack their credit (a delivery that died mid-credit).
        for b in beats:
            if b.progress_id not in progress and b.resource_id in courses and b.progress_id in found:
                progress[b.progress_id] = found[b.progress_id]
        last_at: dict[str, datetime] = {}
        for b in beats:
            last_at[b.progress_id] = max(b.at, last_at.get(b.progress_id, b.at))
        due = []
        for pid, p in progress.items():
            course = courses.get(p.resource_id)
            if course is None or p.certificate_id:
                continue
            need = required_seconds(course.credit_hours)
            if p.seconds < need:
                continue
            counted, credited = plan.get(pid, []), credits.get(pid, [])
            before = p.seconds - sum(credited)
            at = finishing_time(before, [(c, b.at) for c, b in zip(credited, counted, strict=True)], need)
            due.append((p, course, at or last_at[pid]))
        if due:
            await self.credit(due)

    async def credit(self, due: list[tuple[Progress, Course, datetime]]) -> None:
        new = [
            Certificate(
                certificate_id(self.key, p.user_id, p.resource_id),
                p.user_id,
                p.resource_id,
                float(course.credit_hours),
                credit_year(at),
                at,
                course.title,
            )
            for p, course, at in due
        ]
        change = self.outbox.change(
            CERTIFICATES,
            {c.id: [_credited(c)] for c in new},
            ids={c.id: [c.id] for c in new},  # the certificate number is the CloudEvents id
        )
        await change.announce()
        stored = await asyncio.gather(*(self.store.insert_certificate(c, change.entries(c.id)) for c in new))
        # A certificate already stored (a replay) holds its own event, whose pointer stays until it is published.
        change.commit(unwritten=[c.id for c, inserted in stored if not inserted])
        certs = [c for c, _ in stored]

        async def record(cert: Certificate) -> None:
            await self.store.record_teacher_credit(
                cert.user_id, Credit(cert.resource_id, cert.hours, cert.year, cert.id)
            )

        await asyncio.gather(*(record(cert) for cert in certs))
        await asyncio.gather(
            *(self.store.mark_credited(p.id, cert.id) for (p, *_), cert in zip(due, certs, strict=True))
        )


def _credited(cert: Certificate) -> LearningCredited:
    return LearningCredited(
        credit_id=credit_id(cert.user_id, cert.resource_id),
        user_id=cert.user_id,
        resource_id=cert.resource_id,
        hours=cert.hours,
        year=cert.year,
        certificate_id=cert.id,
        credited_at=cert.at if cert.at.tzinfo else cert.at.replace(tzinfo=UTC),
    )
