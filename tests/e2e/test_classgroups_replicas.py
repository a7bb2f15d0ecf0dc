"""Two class groups replicas, each its own process with its own replica id (so its own ``classgroups-cache``
group) on the same store: a membership change made through replica A reaches replica B's cached roster and its
access decisions through the service's class events alone. Replica B keeps classes for an hour
(``CLASSGROUPS_CLASS_CACHE_SECONDS``), so no age limit can explain what it sees: without its invalidation consumer
it would go on serving the class as it was when it first read it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from common.contracts.identity import RoleGranted, TeacherVerified, UserRegistered
from common.messaging import encode, kafka_client_options
from tests.conftest import free_port
from tests.integration.common.helpers import eventually
from tests.integration.common.tokens import AUD, ISS, Tokens

pytestmark = pytest.mark.e2e

SCHOOL = "cn/43/4301/430102/school-430102001"
ADMIN_ROLE = f"school_admin@{SCHOOL}"
STUDENT_ROLE = f"student@{SCHOOL}"
AN_HOUR = "3600"


@pytest.fixture
def replicas(service_process):
    tokens = Tokens()
    jwks, server = tokens.serve()
    env = {
        "AUTH_JWKS_URL": jwks,
        "AUTH_ISSUER": ISS,
        "AUTH_AUDIENCE": AUD,
        "MONGODB_DATABASE_PREFIX": f"test_e2e_cgr_{uuid.uuid4().hex[:8]}_",  # one store, shared by both
        "CLASSGROUPS_CLASS_CACHE_SECONDS": AN_HOUR,
    }
    a = service_process("classgroups.app:create_app", free_port(), CLASSGROUPS_REPLICA_ID="replica-a", **env)
    b = service_process("classgroups.app:create_app", free_port(), CLASSGROUPS_REPLICA_ID="replica-b", **env)
    a.start(timeout=120), b.start(timeout=120)
    yield tokens, a.url, b.url
    server.shutdown()


async def publish_accounts(teachers: list[str], students: list[str], admin: str) -> None:
    """identity's events for the accounts, as identity publishes them (the replicas' directory follows them)."""
    t = datetime.now(UTC)
    events: list[Any] = []
    for uid in teachers:
        events += [UserRegistered(user_id=uid, occurred_at=t, kind="teacher", login_methods=("phone",))]
        events += [TeacherVerified(user_id=uid, occurred_at=t, outcome="verified", school=SCHOOL)]
    for uid in students:
        events += [UserRegistered(user_id=uid, occurred_at=t, kind="student", login_methods=("phone",))]
        role, _, org = STUDENT_ROLE.partition("@")
        events += [RoleGranted(user_id=uid, occurred_at=t, role=role, org=org, granted_by=admin)]
    producer = AIOKafkaProducer(**kafka_client_options(), acks="all")
    await producer.start()
    try:
        for event in events:
            body, headers = encode(event, "identity")
            headers_ = [(k, v.encode()) for k, v in headers.items()]
            await producer.send(event.TOPIC, body, key=event.key().encode(), headers=headers_)
        await producer.flush()
    finally:
        await producer.stop()


def uid() -> str:
    return f"u-{uuid.uuid4().hex[:12]}"


async def test_a_membership_change_through_one_replica_reaches_the_others_cache(replicas) -> None:
    tokens, a, b = replicas
    admin_id, head, next_head, probe_teacher = uid(), uid(), uid(), uid()
    stays, joins, leaves = uid(), uid(), uid()
    await publish_accounts([head, next_head, probe_teacher], [stays, joins, leaves], admin_id)
    admin = tokens.headers(admin_id, ADMIN_ROLE)

    def as_(account: str, kind: str) -> dict[str, str]:
        return tokens.headers(account, *([STUDENT_ROLE] if kind == "student" else []), kind=kind)

    async with httpx.AsyncClient(timeout=30) as http:

        async def new_class(name: str) -> str:
            body = {"school": SCHOOL, "school_year": 2026, "grade": 4, "name": name}
            r = await http.post(f"{a}/v1/administrative-classes", json=body, headers=admin)
            assert r.status_code == 201, r.text
            return r.json()["id"]

        async def name_head(class_id: str, teacher: str) -> bool:
            body = {"head_teacher_id": teacher, "subject_teachers": []}
            r = await http.put(f"{a}/v1/classes/{class_id}/teachers", json=body, headers=admin)
            return r.status_code == 200

        async def roster(class_id: str, *students: str) -> bool:
            lines = "".join(f'{{"account_id": "{s}"}}\n' for s in students)
            r = await http.post(
                f"{a}/v1/classes/{class_id}/roster",
                content=lines.encode(),
                headers={**admin, "Content-Type": "application/x-ndjson"},
            )
            return r.status_code == 200 and r.json()["added"] + r.json()["already"] == len(students)

        # B's cache consumer starts at the end of the class events once it has its partition: changes through A
        # reach B from some moment on. Until one does, B reads a probe class (and keeps it) and its head teacher
        # changes through A.
        probe = await new_class(f"probe-{uuid.uuid4().hex[:6]}")
        for n in range(10):
            teacher = (probe_teacher, head)[n % 2]
            assert (await http.get(f"{b}/v1/classes/{probe}", headers=admin)).status_code == 200
            await eventually(lambda t=teacher: name_head(probe, t), timeout=60)  # once A's directory has them

            async def b_names(t: str = teacher) -> bool:
                r = await http.get(f"{b}/v1/classes/{probe}", headers=admin)
                return r.status_code == 200 and r.json()["head_teacher_id"] == t

            try:
                await eventually(b_names, timeout=5)
                break
            except AssertionError:
                continue
        else:
            pytest.fail("replica B never saw a change made through replica A")

        cid = await new_class(f"2026级{uuid.uuid4().hex[:6]}班")
        assert await name_head(cid, head)
        await eventually(lambda: roster(cid, stays, leaves), timeout=60)  # once A's directory has the students

        async def b_roster(teacher: str = head) -> list[str] | int:
            r = await http.get(f"{b}/v1/classes/{cid}/members", headers=as_(teacher, "teacher"))
            return [m["account_id"] for m in r.json()] if r.status_code == 200 else r.status_code

        async def b_class(account: str, kind: str) -> int:
            return (await http.get(f"{b}/v1/classes/{cid}", headers=as_(account, kind))).status_code

        # B reads the class once and keeps it (for an hour)
        assert sorted(await b_roster()) == sorted([stays, leaves])
        assert await b_class(joins, "student") == 404
        assert await b_class(leaves, "student") == 200
        assert await b_class(next_head, "teacher") == 404

        # through A: a student joins, another is taken off, the head teacher changes
        assert await roster(cid, joins)
        r = await http.delete(f"{a}/v1/classes/{cid}/members/{leaves}", headers=admin)
        assert r.status_code == 200, r.text
        assert await name_head(cid, next_head)

        # B's roster and access decisions follow, from the events alone
        async def b_follows() -> bool:
            got = await b_roster(next_head)
            return isinstance(got, list) and sorted(got) == sorted([stays, joins])

        await eventually(b_follows, timeout=30)
        assert await b_class(joins, "student") == 200
        assert await b_class(leaves, "student") == 404
        assert await b_roster(head) == 404  # the former head teacher has no relation to the class any more
