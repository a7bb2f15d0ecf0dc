"""Learning hours (学时) on the real Kafka and FerretDB: heartbeats through the collector, the course from a
catalog event, exactly one LearningCredited event whatever is redelivered, and the certificate."""

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from asgi_lifespan import LifespanManager

from common.auth import install_verifier
from common.contracts.catalog import ResourcePublished
from common.contracts.viewstats import LearningCredited
from common.messaging import kafka_client_options
from common.outbox import Outbox, RelayOptions
from tests.integration.common.helpers import eventually, published
from tests.integration.viewstats.conftest import caught_up, end_offsets, records_since
from tests.integration.viewstats.conftest import settings_for as scratch_settings
from viewstats.app import create_app as create_viewstats
from viewstats.collector.app import create_app as create_collector
from viewstats.domain.learning import BEIJING, Beat, CourseChange, certificate_id
from viewstats.learning import Ledger, declare_outbox
from viewstats.store import LearningStore

pytestmark = pytest.mark.integration
HEARTBEATS, LEARNING = "viewstats.heartbeats.v1", "viewstats.learning.v1"
KEY = b"test-certificate-key"


def course_event(resource_id: str, hours: float) -> ResourcePublished:
    base = published(resource_id, title="信息技术与课堂教学深度融合")
    resource = base.resource.model_copy(update={"section": "teacher_training", "credit_hours": hours})
    return ResourcePublished(resource=resource, cursor=base.cursor, credit_hours=hours)


def settings_for(scratch):
    return scratch_settings(scratch, run_aggregator=False, certificate_key=KEY.decode())


async def rewind(bootstrap: str, group: str, starts) -> None:
    """Move a (stopped) group's committed offsets back: Kafka redelivers everything from there."""
    consumer = AIOKafkaConsumer(**kafka_client_options(), group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(list(starts))
        await consumer.commit(dict(starts))
    finally:
        await consumer.stop()


async def test_finishing_a_course_credits_exactly_once_and_the_certificate_verifies(scratch, tokens):
    tag, bootstrap = scratch["tag"], scratch["bootstrap"]
    course, other_course, teacher, other = f"course-{tag}", f"course2-{tag}", f"teacher-{tag}", f"teacher2-{tag}"
    settings = settings_for(scratch)
    hb_starts, learning_starts = await end_offsets(bootstrap, HEARTBEATS), await end_offsets(bootstrap, LEARNING)
    beats = [{"event_id": str(uuid.uuid4()), "resource_id": course, "seconds": 300} for _ in range(6)]

    collector = create_collector(settings)
    install_verifier(collector, tokens.verifier())
    # The collector's clock stamps each heartbeat: here it runs 5 minutes per request, as a real watcher's would
    # between beats (the ledger credits no more than the time that passed).
    clock = [time.time() - 7200]
    collector.state.collector.clock = lambda: clock[0]
    async with LifespanManager(collector):
        c = httpx.AsyncClient(transport=httpx.ASGITransport(app=collector), base_url="http://collector")

        async def beat(body, who=teacher):
            clock[0] += 300
            headers = tokens.headers(who, "teacher@cn/43/4301/430102/school-1")
            assert (await c.post("/v1/heartbeats", json=body, headers=headers)).status_code == 202

        stats = create_viewstats(settings)
        install_verifier(stats, tokens.verifier())
        async with LifespanManager(stats):
            s = httpx.AsyncClient(transport=httpx.ASGITransport(app=stats), base_url="http://stats")
            kit = stats.state.kit
            await kit.publisher.publish_many([course_event(course, 0.5), course_event(other_course, 2.0)])

            async def known(rid):
                return (await s.get(f"/v1/learning/courses/{rid}")).status_code == 200

            await eventually(lambda: known(course), timeout=90)
            await eventually(lambda: known(other_course), timeout=30)
            assert (await s.get(f"/v1/learning/courses/{course}")).json()["required_seconds"] == 1350  # 0.5 × 45 min
            for body in beats[:3] + beats[:3]:  # the client retries the first three heartbeats
                await beat(body)
            await beat({"event_id": str(uuid.uuid4()), "resource_id": other_course, "seconds": 300})
            await beat({"event_id": str(uuid.uuid4()), "resource_id": course, "seconds": 300}, who=other)
            for body in beats[3:] + beats[4:]:
                await beat(body)

            async def credited():
                r = await s.get(f"/v1/learning/me/courses/{course}", headers=tokens.headers(teacher))
                return r.json() if r.json()["credited"] else None

            progress = await eventually(credited, timeout=60)
            # 6 distinct beats 5 minutes apart: the first starts the clock, the 5 others credit 300 s each
            assert progress["watched_seconds"] == 1500 and progress["required_seconds"] == 1350
            number = progress["certificate_id"]
            assert number == certificate_id(KEY, teacher, course)
            # Credited once the sixth distinct beat is in: the client's last retries may still be unread, and a
            # stop now would leave them uncommitted. Every heartbeat is consumed and committed before the stop.
            learning_group = f"test-{tag}-viewstats-learning"
            await eventually(lambda: caught_up(bootstrap, learning_group, HEARTBEATS), timeout=60)

        # Redelivery: the group re-reads every heartbeat of this test, and the client retries two more.
        await rewind(bootstrap, learning_group, hb_starts)
        await beat(beats[0])
        await beat(beats[5])
        stats = create_viewstats(settings)
        install_verifier(stats, tokens.verifier())
        async with LifespanManager(stats):
            s = httpx.AsyncClient(transport=httpx.ASGITransport(app=stats), base_url="http://stats")

            async def replayed():
                return await caught_up(bootstrap, learning_group, HEARTBEATS)

            await eventually(replayed, timeout=90)
            events = [e for e in await records_since(bootstrap, learning_starts) if e.event.user_id in (teacher, other)]
            assert len(events) == 1, events
            event = events[0].event
            assert isinstance(event, LearningCredited) and events[0].id == number == event.certificate_id
            assert (event.user_id, event.resource_id, event.hours, event.credit_id) == (
                teacher,
                course,
                0.5,
                f"{teacher}:{course}",
            )
            mine = (await s.get(f"/v1/learning/me/courses/{course}", headers=tokens.headers(teacher))).json()
            assert mine["watched_seconds"] == 1500 and mine["credited"]
            theirs = (await s.get(f"/v1/learning/me/courses/{course}", headers=tokens.headers(other))).json()
            assert theirs == {
                "resource_id": course,
                "watched_seconds": 0,  # a single heartbeat only starts the clock
                "required_seconds": 1350,
                "credited": False,
                "certificate_id": None,
            }

            # Hours per year and the 360-hours-in-5-years rule.
            year = event.year
            hours = (await s.get("/v1/learning/me/hours", headers=tokens.headers(teacher))).json()
            assert hours["hours_by_year"] == {str(year): 0.5}
            assert hours["cycle"] == {
                "first_year": year - 4,
                "last_year": year,
                "hours": 0.5,
                "required": 360.0,
                "met": False,
                "missing": 359.5,
            }
            assert hours["credits"] == [{"resource_id": course, "hours": 0.5, "year": year, "certificate_id": number}]
            admin = await s.get(
                f"/v1/learning/teachers/{teacher}/hours", headers=tokens.headers("a1", "ministry_admin")
            )
            assert admin.json()["credits"] == hours["credits"]
            assert (
                await s.get(f"/v1/learning/teachers/{teacher}/hours", headers=tokens.headers(other))
            ).status_code == 403
            assert (await s.get("/v1/learning/me/hours")).status_code == 401

            # The certificate: anyone verifies the number, nobody learns the holder; a forged number fails.
            verdict = await s.get(f"/v1/certificates/{number}")
            assert verdict.status_code == 200 and teacher not in verdict.text
            body = verdict.json()
            assert body["valid"] and (body["course_id"], body["hours"], body["year"]) == (course, 0.5, year)
            assert body["issued_on"] == event.credited_at.astimezone(BEIJING).date().isoformat()
            forged = "SE-" + "-".join(number[3:].split("-")[::-1])  # right shape, not issued
            assert (await s.get(f"/v1/certificates/{forged}")).json() == {
                "certificate_id": forged,
                "valid": False,
                "course_id": None,
                "course_title": None,
                "hours": None,
                "year": None,
                "issued_on": None,
            }
            bad = await s.get("/v1/certificates/not-a-number")
            assert bad.status_code == 422 and bad.headers["content-type"] == "application/problem+json"
            assert [e["field"] for e in bad.json()["errors"]] == ["path.certificate_id"]

            pdf = await s.get(f"/v1/learning/me/certificates/{number}/pdf", headers=tokens.headers(teacher))
            assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
            assert pdf.content.startswith(b"%PDF-") and number.encode() in pdf.content
            stolen = await s.get(f"/v1/learning/me/certificates/{number}/pdf", headers=tokens.headers(other))
            assert stolen.status_code == 404 and stolen.json()["code"] == "no-certificate"


class Crash(Exception):
    """The process dies here."""


class CrashingStore(LearningStore):
    """Dies at write number ``crash_at // 2 + 1`` (counted over restarts): before it when ``crash_at`` is even,
    right after it when odd. Writes already in flight when it dies still land, as on a real server."""

    WRITES = ("claim", "add_seconds", "insert_certificate", "record_teacher_credit", "mark_credited")

    def __init__(self, db, crash_at: int, state: dict) -> None:
        super().__init__(db)
        self.crash_at, self.state, self.dead, self.inflight = crash_at, state, False, 0
        for name in self.WRITES:
            setattr(self, name, self._crashing(name, getattr(super(), name)))

    def _crashing(self, name, write):
        async def wrapped(*args, **kwargs):
            if self.dead:
                raise Crash("dead")
            self.state["writes"] += 1
            here = self.state["writes"] == self.crash_at // 2 + 1
            if here and self.crash_at % 2 == 0:
                self.dead, self.state["crashed"] = True, (name, "before")
                raise Crash(name)
            self.inflight += 1
            try:
                result = await write(*args, **kwargs)
            finally:
                self.inflight -= 1
            if here:
                self.dead, self.state["crashed"] = True, (name, "after")
            if self.dead:
                raise Crash(name)
            return result

        return wrapped

    async def settled(self) -> None:
        """What the dead process had sent has reached the store before the new one starts."""
        while self.inflight:  # noqa: ASYNC110 - an in-memory counter of this test's own tasks
            await asyncio.sleep(0.01)


class Recorder:
    def __init__(self) -> None:
        self.sent: list[tuple[str, LearningCredited]] = []

    async def publish_many(self, events, *, event_ids=None):
        self.sent += list(zip(event_ids or [], events, strict=True))


def outbox_of(db, publisher, **options) -> Outbox:
    outbox = Outbox(db, publisher, "viewstats", RelayOptions(**options))
    declare_outbox(outbox)
    return outbox


async def test_a_crash_at_any_write_still_credits_once(scratch):
    """Every write of a delivery, before and after it: the process dies, Kafka redelivers the batch, and the
    totals and the credit come out exactly once; the LearningCredited event, left in the outbox by whichever
    process wrote the certificate, is published once by the next process's relay."""
    db, now = scratch["db"], datetime.now(UTC)

    def hb(i, resource="course-1", event_id=None):
        return Beat(event_id or f"e{i}", 1, 100 + i, "t1", resource, 300, now + timedelta(minutes=5 * i))

    deliveries = [
        [hb(0), hb(1), hb(2, "course-2")],
        [hb(3), hb(4, event_id="e1"), hb(5), hb(6, "course-2"), hb(7)],  # e1 again: a client retry
    ]
    setup, number = LearningStore(db), certificate_id(KEY, "t1", "course-1")
    crash_at = -1
    while True:
        crash_at += 1
        for name in ("heartbeats", "progress", "certificates", "teachers", "courses", "outbox"):
            await db.drop_collection(name)
        await setup.set_courses(
            {
                "course-1": CourseChange(1, credit_hours=0.25, title="A"),
                "course-2": CourseChange(1, credit_hours=1.0, title="B"),
            }
        )
        state, recorder = {"writes": 0, "crashed": None}, Recorder()
        for batch in deliveries + deliveries:  # and everything once more, as after a rewind
            while True:
                store = CrashingStore(db, crash_at, state)
                try:
                    # a (re)started process; its relay never runs (the test plays it below), so what it held in
                    # memory dies with it
                    await Ledger(store, outbox_of(db, recorder), KEY).apply(batch)
                    break
                except Crash:
                    await store.settled()
        await outbox_of(db, recorder).relay.sweep(min_age=0)  # the relay of the next process
        why = (crash_at, state["crashed"], recorder.sent)
        progress = {d["_id"]: d async for d in db.progress.find()}  # a handful of documents
        # the first beat on each course starts its clock; the others are ≥ 5 minutes apart: 300 s each
        assert progress["t1|course-1"]["s"] == 4 * 300 and progress["t1|course-2"]["s"] == 1 * 300, why
        assert progress["t1|course-1"]["credited"] == number and "credited" not in progress["t1|course-2"], why
        assert {i for i, _ in recorder.sent} == {number}, why
        assert len(recorder.sent) == 1, why
        # What is left are pointers of certificate inserts that never happened: given up, they publish nothing.
        await outbox_of(db, recorder, orphan_seconds=0).relay.sweep(min_age=0)
        assert len(recorder.sent) == 1 and await db.outbox.count_documents({}) == 0, why
        teacher = await db.teachers.find_one({"_id": "t1"})
        assert teacher["k"] == {"course-1": {"r": "course-1", "h": 0.25, "y": recorder.sent[0][1].year, "c": number}}
        if state["crashed"] is None:  # past the last write: every point was tried
            break
    assert crash_at >= 2 * 9
