"""Check-in submissions, written in groups (``common.group_insert``), across a crash: the service (a process) is
SIGKILLed in the middle of a burst of 400 submissions (320 days of 40 students, 80 of them sent twice at once),
started again, and the clients that got no answer send again. Every submission answered 201 is stored; every
stored one has its ``checkin.submitted`` event published (at least once, always under the same CloudEvents id),
and no event announces one that is not stored; each (student, day) holds one version, whatever was sent twice."""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from pymongo import AsyncMongoClient

from common.contracts.classgroups import CHECKINS_TOPIC
from common.contracts.identity import TeacherVerified, UserRegistered
from common.messaging import encode, kafka_client_options
from common.reference import BEIJING
from tests.conftest import free_port
from tests.integration.classgroups.conftest import AUD, ISS, SCHOOL
from tests.integration.classgroups.test_course_burst import _register, _until, jwks  # noqa: F401 (a fixture)
from tests.integration.viewstats.conftest import end_offsets, records_since

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

STUDENTS, DAYS, TWICE = 40, 8, 2  # the first TWICE days of every student are sent twice, at once
ADMIN = f"school_admin@{SCHOOL}"
SUBMITTED = "cn.smartedu.classgroups.checkin.submitted.v1"


async def test_submissions_across_a_crash_are_stored_and_published(
    service_process,
    jwks,  # noqa: F811 (the fixture imported above)
    kafka_bootstrap,
    mongodb_url,
) -> None:
    jwks_url, tokens = jwks
    env = {
        "AUTH_JWKS_URL": jwks_url,
        "AUTH_ISSUER": ISS,
        "AUTH_AUDIENCE": AUD,
        "AUTH_JWKS_MIN_REFRESH_SECONDS": "0",
        "OUTBOX_SWEEP_SECONDS": "1",  # the restarted service sweeps the dead one's pointers soon
        "OUTBOX_SWEEP_MIN_AGE_SECONDS": "1",
        # the groups share epoch pointers (common.group_insert): the dead one's is swept by its tag after this
        "OUTBOX_EPOCH_GRACE_SECONDS": "2",
        # a database of its own: the outbox is asserted empty of everything but this burst's pointers, and another
        # test of the run (the course burst's crash) may leave pointers in the run's shared one
        "MONGODB_DATABASE_PREFIX": f"test_{uuid.uuid4().hex[:8]}_subcrash_",
    }
    service = service_process("classgroups.app:create_app", free_port(), **env).start(timeout=180)
    database = f"{service.env['MONGODB_DATABASE_PREFIX']}classgroups"
    admin, teacher = f"u-{uuid.uuid4().hex[:12]}", f"u-{uuid.uuid4().hex[:12]}"
    students = [f"u-{uuid.uuid4().hex[:12]}" for _ in range(STUDENTS)]
    await _register([(admin, ADMIN)] + [(s, f"student@{SCHOOL}") for s in students])
    await _verified_teacher(teacher)
    as_admin = tokens.headers(admin, ADMIN)
    today = datetime.now(UTC).astimezone(BEIJING).date()
    days = [today - timedelta(n) for n in range(DAYS)]

    async with httpx.AsyncClient(base_url=service.url, timeout=120) as http:
        body = {"school": SCHOOL, "school_year": 2026, "grade": 3, "name": "2026级2班"}

        async def made():
            r = await http.post("/v1/administrative-classes", json=body, headers=as_admin)
            return r.json()["id"] if r.status_code == 201 else None

        class_id = await _until(made)
        lines = "\n".join(f'{{"account_id": "{s}"}}' for s in students).encode()

        async def rostered():
            r = await http.post(
                f"/v1/classes/{class_id}/roster",
                content=lines,
                headers={**as_admin, "Content-Type": "application/x-ndjson"},
            )
            return r.status_code == 200 and r.json()["added"] + r.json()["already"] == STUDENTS

        await _until(rostered)

        async def headed():
            r = await http.put(f"/v1/classes/{class_id}/teachers", json={"head_teacher_id": teacher}, headers=as_admin)
            return r.status_code == 200

        await _until(headed)
        task_body = {
            "title": "家务劳动打卡",
            "instructions": "每天做一件家务。",
            "schedule": {"kind": "daily", "starts_on": str(days[-1]), "ends_on": str(today)},
            "evidence": {"text": True, "photos": 0, "video": False},
            "late_days": DAYS - 1,
            "labour": True,
        }
        r = await http.post(f"/v1/classes/{class_id}/checkin-tasks", json=task_body, headers=tokens.headers(teacher))
        assert r.status_code == 201, r.text
        task = r.json()["task_id"]

    url = f"/v1/classes/{class_id}/checkin-tasks/{task}/submissions"
    sends = [(s, d) for d in range(DAYS) for s in students] + [(s, d) for d in range(TWICE) for s in students]
    sends.sort(key=lambda sd: (sd[1], sd[0]))  # a (student, day) sent twice goes out twice side by side
    headers = {s: tokens.headers(s, f"student@{SCHOOL}", kind="student") for s in students}
    created: dict[int, dict] = {}  # send index -> the stored submission the 201 returned
    refused: dict[int, str] = {}
    starts = await end_offsets(kafka_bootstrap, CHECKINS_TOPIC)
    killed = asyncio.Event()

    async def submit(i: int, client: httpx.AsyncClient) -> None:
        student, d = sends[i]
        body = {"day": str(days[d]), "text": f"第{d}天 {i}"}
        try:
            r = await client.post(url, json=body, headers=headers[student])
        except httpx.HTTPError:
            return  # no answer: the service died
        if r.status_code == 201:
            created[i] = r.json()
        else:
            refused[i] = f"{r.status_code} {r.json().get('code')}"
        if len(created) >= 120 and not killed.is_set():
            killed.set()
            service.kill(9)

    limits = httpx.Limits(max_connections=48)
    async with httpx.AsyncClient(base_url=service.url, timeout=60, limits=limits) as client:
        await asyncio.gather(*(submit(i, client) for i in range(len(sends))))
    assert killed.is_set() and 120 <= len(created) < len(sends)
    assert set(refused.values()) <= {"409 already_submitted"}
    before_crash = dict(created)

    service.start(timeout=180)
    unanswered = [i for i in range(len(sends)) if i not in created and i not in refused]
    assert unanswered
    async with httpx.AsyncClient(base_url=service.url, timeout=60, limits=limits) as client:
        await asyncio.gather(*(submit(i, client) for i in unanswered))
    assert set(refused.values()) <= {"409 already_submitted"}
    assert all(i in created or i in refused for i in range(len(sends)))

    mongo = AsyncMongoClient(mongodb_url)
    try:
        stored = {d["_id"]: d async for d in mongo[database]["checkin_submissions"].find({"task_id": task})}

        async def published():
            records = await records_since(kafka_bootstrap, starts)
            ids = defaultdict(set)
            for r in records:
                if r.type == SUBMITTED and r.event.task_id == task:
                    ids[r.event.submission_id].add(r.id)
            return ids if set(ids) >= set(stored) else None

        events = await _until(published, timeout=180)
        # what the sweeps leave: only pointers narrowed to copies that lost to another (a repeat, or a resend
        # of a submission stored before the crash), whose documents exist without their entries; the outbox
        # gives those up after OUTBOX_ORPHAN_SECONDS
        try:
            pointers = await _until(lambda: _settled(mongo[database], set(stored)), timeout=180)
        except AssertionError:
            left = [p async for p in mongo[database]["outbox"].find({})]
            raise AssertionError(f"the outbox did not settle; left: {left[:5]} ({len(left)} in all)") from None
    finally:
        await mongo.close()

    # each (student, day) once, whatever was sent twice or again after the crash
    assert len(stored) == STUDENTS * DAYS
    assert {(d["student_id"], d["day"], d["version"]) for d in stored.values()} == {
        (s, str(day), 1) for s in students for day in days
    }
    # every 201 is stored as answered, those before the crash included
    for answer in created.values():
        assert stored[answer["submission_id"]]["text"] == answer["text"]
    assert {a["submission_id"] for a in before_crash.values()} <= set(stored)
    # every stored submission was announced, none that is not stored, each under one CloudEvents id
    assert set(events) == set(stored)
    assert all(len(ids) == 1 for ids in events.values())
    assert pointers


async def _settled(db, stored: set[str]) -> list | None:
    left = [p async for p in db["outbox"].find({})]
    # an epoch pointer (d None) is not settled: the sweep or its relay has yet to resolve it
    done = all(p["c"] == "checkin_submissions" and p["d"] is not None and set(p["d"]) <= stored for p in left)
    return [*left, "settled"] if done else None


async def _verified_teacher(uid: str) -> None:
    """identity's events of a teacher verified at SCHOOL (a head teacher must be one)."""
    producer = AIOKafkaProducer(**kafka_client_options(), acks="all")
    await producer.start()
    try:
        t = datetime.now(UTC)
        for event in (
            UserRegistered(user_id=uid, occurred_at=t, kind="teacher", login_methods=("phone",)),
            TeacherVerified(user_id=uid, occurred_at=t, outcome="verified", school=SCHOOL),
        ):
            body, headers = encode(event, "identity")
            await producer.send_and_wait(
                event.TOPIC, body, key=event.key().encode(), headers=[(k, v.encode()) for k, v in headers.items()]
            )
    finally:
        await producer.stop()
