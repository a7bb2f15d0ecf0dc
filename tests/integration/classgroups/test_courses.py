"""After-school course requests in-process, on real Kafka and FerretDB: who may ask for a place (the student of an
eligible grade in the course's school, or their guardian), and the reads behind that check shared by the requests
of a moment (a window's opening minute)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from pymongo import AsyncMongoClient

from classgroups.store.classes import ClassStore
from classgroups.store.directory import DirectoryStore
from tests.integration.classgroups.conftest import OTHER_SCHOOL, SCHOOL, Finds, Running
from tests.integration.classgroups.test_classes import ADMIN, admin_class, roster

pytestmark = pytest.mark.integration


async def _course(cg: Running, admin: str, grades: list[int]) -> str:
    now, slot = datetime.now(UTC), {"weekday": 2, "starts": "16:00", "ends": "17:00"}
    window = {"opens_at": (now - timedelta(minutes=1)).isoformat(), "closes_at": (now + timedelta(days=1)).isoformat()}
    body = {"school": SCHOOL, "term": "2026-autumn", "title": "书法", "capacity": 20, "slots": [slot], "grades": grades}
    body |= window
    r = await cg.client.post("/v1/courses", json=body, headers=cg.as_(admin, ADMIN))
    assert r.status_code == 201, r.text
    return r.json()["course_id"]


async def _ask(cg: Running, course: str, caller: str, student: str | None = None):
    body = {} if student is None else {"student_id": student}
    return await cg.client.post(f"/v1/courses/{course}/selections", json=body, headers=cg.as_(caller))


async def test_only_a_student_of_an_eligible_grade_in_the_school_or_their_guardian_asks(classgroups: Running) -> None:
    cg = classgroups
    admin = await cg.account("teacher", ADMIN)
    grade7, no_class, other_grade = [await cg.account("student", f"student@{SCHOOL}") for _ in range(3)]
    elsewhere = await cg.account("student", f"student@{OTHER_SCHOOL}")
    parent, stranger = await cg.account("parent"), await cg.account("parent")
    await cg.link(grade7, parent)
    seventh = await admin_class(cg, admin, "7年级1班", 2040)  # grade 7
    assert (await roster(cg, admin, seventh, f'{{"account_id": "{grade7}"}}')).status_code == 200
    eighth = await admin_class(cg, admin, "8年级1班", 2040, grade=8)
    assert (await roster(cg, admin, eighth, f'{{"account_id": "{other_grade}"}}')).status_code == 200
    course = await _course(cg, admin, [7])

    assert (await _ask(cg, course, grade7)).status_code == 202
    r = await _ask(cg, course, parent, grade7)
    assert r.status_code == 202 and r.json()["student_id"] == grade7
    r = await _ask(cg, course, other_grade)
    assert (r.status_code, r.json()["code"]) == (422, "grade_not_eligible"), r.text
    r = await _ask(cg, course, no_class)
    assert (r.status_code, r.json()["code"]) == (422, "grade_not_eligible"), r.text
    r = await _ask(cg, course, elsewhere)
    assert (r.status_code, r.json()["code"]) == (403, "not_of_school"), r.text
    r = await _ask(cg, course, stranger, grade7)
    assert (r.status_code, r.json()["code"]) == (403, "not_your_child"), r.text

    # a student who joins the class a moment later may ask at once: the check reads after the roster's write
    assert (await roster(cg, admin, seventh, f'{{"account_id": "{no_class}"}}')).status_code == 200
    assert (await _ask(cg, course, no_class)).status_code == 202


async def test_the_checks_of_concurrent_requests_share_their_reads(classgroups: Running, mongodb_url: str) -> None:
    """Forty students asking at once cost a read or two of the memberships and of the directory, not forty each
    (on FerretDB every one is a scan); each still gets its own answer."""
    cg = classgroups
    admin = await cg.account("teacher", ADMIN)
    students = [await cg.account("student", f"student@{SCHOOL}") for _ in range(40)]
    cid = await admin_class(cg, admin, "7年级2班", 2041)
    r = await roster(cg, admin, cid, "\n".join(f'{{"account_id": "{s}"}}' for s in students[:30]))
    assert r.json()["added"] == 30, r.text

    running = cg.handlers.store
    finds = Finds()
    mongo = AsyncMongoClient(mongodb_url, event_listeners=[finds], tz_aware=True)
    try:
        # another replica of the service: nothing cached, every read counted
        classes = ClassStore(mongo[running.classes.db.name], running.classes.outbox)
        directory = DirectoryStore(mongo[running.directory.db.name], running.directory.outbox)
        memberships, accounts = await asyncio.gather(
            asyncio.gather(*(classes.memberships_of(s) for s in students)),
            asyncio.gather(*(directory.account(s) for s in students)),
        )
        assert [[m.class_id for m in ms] for ms in memberships] == [[cid]] * 30 + [[]] * 10
        assert [a.id for a in accounts] == students and all(a.is_student_of(SCHOOL) for a in accounts)
        # one read or two (however the moment splits them) instead of forty of each
        assert finds.seen["members"] <= 2
        assert finds.seen["accounts"] <= 2

        # read after a write: a student rostered now is seen in the class by the next check
        late = students[30]
        assert (await roster(cg, admin, cid, f'{{"account_id": "{late}"}}')).json()["added"] == 1
        assert [m.class_id for m in await classes.memberships_of(late)] == [cid]
    finally:
        await mongo.close()
