"""No overbooking under load, across a crash: 500 concurrent selections (460 students, 40 of them twice) into a
30-seat course, the service SIGKILLed mid-burst and started again, the requests that got no answer retried by
their clients. Exactly 30 seats are taken, no student holds two places, every student got a seat or a waitlist
place, and seats and waitlist follow the arrival order (the course partition's order) — checked against the
operations the writer stored."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import orjson
import pytest
from aiokafka import AIOKafkaProducer
from pymongo import AsyncMongoClient

from common.contracts.identity import RoleGranted, UserRegistered
from common.messaging import encode, kafka_client_options
from tests.conftest import free_port
from tests.integration.classgroups.conftest import AUD, ISS, SCHOOL, Tokens

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1200)]

STUDENTS, REQUESTS, CAPACITY = 460, 500, 30
ADMIN = f"school_admin@{SCHOOL}"


@pytest.fixture(scope="module")
def jwks() -> Iterator[tuple[str, Tokens]]:
    """The signing key's JWKS over HTTP, as identity serves it, for the service running as a process."""
    tokens = Tokens()
    url, server = tokens.serve()
    yield url, tokens
    server.shutdown()


async def _register(accounts: list[tuple[str, str]]) -> None:
    """identity's events for the accounts (id, role claim), as identity publishes them."""
    producer = AIOKafkaProducer(**kafka_client_options(), acks="all")
    await producer.start()
    try:
        t = datetime.now(UTC)
        for uid, claim in accounts:
            role, _, org = claim.partition("@")
            for event in (
                UserRegistered(
                    user_id=uid,
                    occurred_at=t,
                    kind="student" if role == "student" else "teacher",
                    login_methods=("phone",),
                ),
                RoleGranted(user_id=uid, occurred_at=t, role=role, org=org, granted_by="admin"),
            ):
                body, headers = encode(event, "identity")
                await producer.send(
                    event.TOPIC, body, key=event.key().encode(), headers=[(k, v.encode()) for k, v in headers.items()]
                )
        await producer.flush()
    finally:
        await producer.stop()


async def _until(check, timeout: float = 180):  # noqa: ASYNC109 - a polling deadline
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        got = await check()
        if got:
            return got
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.5)


async def test_500_into_30_across_a_crash(service_process, jwks, mongodb_url: str) -> None:
    jwks_url, tokens = jwks
    port = free_port()
    env = {"AUTH_JWKS_URL": jwks_url, "AUTH_ISSUER": ISS, "AUTH_AUDIENCE": AUD, "AUTH_JWKS_MIN_REFRESH_SECONDS": "0"}
    service = service_process("classgroups.app:create_app", port, **env).start(timeout=180)
    database = f"{service.env['MONGODB_DATABASE_PREFIX']}classgroups"
    admin = f"u-{uuid.uuid4().hex[:12]}"
    students = [f"u-{uuid.uuid4().hex[:12]}" for _ in range(STUDENTS)]
    await _register([(admin, ADMIN)] + [(s, f"student@{SCHOOL}") for s in students])
    as_admin = tokens.headers(admin, ADMIN)

    async with httpx.AsyncClient(base_url=service.url, timeout=120) as http:
        # a grade-5 class of the school holding every student (roster import: retried until the directory has them)
        body = {"school": SCHOOL, "school_year": 2026, "grade": 5, "name": "2026级5班"}

        async def made():
            r = await http.post("/v1/administrative-classes", json=body, headers=as_admin)
            return r.json()["id"] if r.status_code == 201 else None

        class_id = await _until(made)
        lines = b"\n".join(orjson.dumps({"account_id": s}) for s in students)
        headers = {**as_admin, "Content-Type": "application/x-ndjson"}

        async def rostered():
            r = await http.post(f"/v1/classes/{class_id}/roster", content=lines, headers=headers)
            return r.status_code == 200 and r.json()["added"] + r.json()["already"] == STUDENTS

        await _until(rostered, timeout=600)
        now = datetime.now(UTC)
        course = {
            "school": SCHOOL,
            "term": "2026-autumn",
            "title": "围棋",
            "capacity": CAPACITY,
            "slots": [{"weekday": 3, "starts": "16:00", "ends": "17:00"}],
            "grades": [5],
            "opens_at": (now - timedelta(minutes=1)).isoformat(),
            "closes_at": (now + timedelta(days=1)).isoformat(),
        }
        r = await http.post("/v1/courses", json=course, headers=as_admin)
        assert r.status_code == 201, r.text
        course_id = r.json()["course_id"]

    # the burst: 500 requests at once (40 students twice); the service is killed after the first 150 answers
    burst = students + students[: REQUESTS - STUDENTS]
    answered: dict[int, dict] = {}
    killed = asyncio.Event()

    refusals: list[str] = []

    async def select(i: int, client: httpx.AsyncClient, attempts: int = 1) -> None:
        """One client's request; ``attempts`` > 1: a client that retries until it is answered 202."""
        student = burst[i]
        headers = tokens.headers(student, f"student@{SCHOOL}", kind="student")
        for _ in range(attempts):
            try:
                r = await client.post(f"/v1/courses/{course_id}/selections", json={}, headers=headers)
            except httpx.HTTPError:
                await asyncio.sleep(0.5)
                continue  # no answer (the service died): retried
            if r.status_code == 202:
                answered[i] = r.json()
                break
            refusals.append(f"{r.status_code} {r.text[:200]}")
            await asyncio.sleep(0.5)
        if len(answered) >= 150 and not killed.is_set():
            killed.set()
            service.kill(9)

    limits = httpx.Limits(max_connections=100)
    async with httpx.AsyncClient(base_url=service.url, timeout=120, limits=limits) as client:
        await asyncio.gather(*(select(i, client) for i in range(REQUESTS)))
    assert killed.is_set() and 150 <= len(answered) < REQUESTS
    service.start(timeout=180)
    async with httpx.AsyncClient(base_url=service.url, timeout=120, limits=limits) as client:
        retry = [i for i in range(REQUESTS) if i not in answered]
        await asyncio.gather(*(select(i, client, attempts=20) for i in retry))
        assert len(answered) == REQUESTS, refusals[:5]

        async def settled():
            r = await client.get(f"/v1/courses/{course_id}/roster", headers=as_admin)
            places = r.json()
            return places if len(places["seated"]) + len(places["waitlist"]) >= STUDENTS else None

        roster = await _until(settled, timeout=600)
        # and a client polling its request learns the outcome
        i, first = next(iter(answered.items()))
        r = await client.get(f"/v1/course-requests/{first['request_id']}", headers=tokens.headers(burst[i]))
        assert r.json()["status"] == "decided" and r.json()["outcome"] in ("seated", "waitlisted", "refused")

    seated, waitlist = roster["seated"], roster["waitlist"]
    assert len(seated) == CAPACITY and len(set(seated)) == CAPACITY
    assert not set(seated) & set(waitlist) and len(set(waitlist)) == len(waitlist)
    assert set(seated) | set(waitlist) == set(students)  # nobody lost, nobody twice
    mongo = AsyncMongoClient(mongodb_url)
    try:
        ops = [d async for d in mongo[database]["course_ops"].find({"course_id": course_id})]
    finally:
        await mongo.close()
    ops.sort(key=lambda d: d["_id"])  # partition order = arrival order
    first_asks = []
    for op in ops:
        if op["student_id"] not in first_asks:
            first_asks.append(op["student_id"])
    assert seated == first_asks[:CAPACITY] and waitlist == first_asks[CAPACITY:]
    assert len({op["request_id"] for op in ops}) == len(ops)  # each request applied once, crash or not
    assert {a["request_id"] for a in answered.values()} <= {op["request_id"] for op in ops}  # none lost
    refused = [op for op in ops if op["outcome"] == "refused"]
    assert refused and all(op["reason"] == "already_holds_a_place" for op in refused)
