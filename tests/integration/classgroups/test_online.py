"""Online classes (网络班): verified teachers create them; students join with a code (expiring, revocable,
guessing limited), an invitation, optionally approved; members leave; the owner hands the class over."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from tests.integration.classgroups.conftest import SCHOOL, Running

pytestmark = pytest.mark.integration


async def online_class(cg: Running, owner: str, approval: bool = False) -> str:
    r = await cg.client.post(
        "/v1/online-classes", json={"name": "课外阅读", "approval_required": approval}, headers=cg.as_(owner)
    )
    assert r.status_code == 201, r.text
    return r.json()["id"]


async def code_of(cg: Running, owner: str, class_id: str) -> str:
    r = await cg.client.post(f"/v1/classes/{class_id}/codes", json={}, headers=cg.as_(owner))
    assert r.status_code == 201, r.text
    return r.json()["code"]


def student_headers(cg: Running, uid: str) -> dict[str, str]:
    return cg.as_(uid, kind="student")


async def test_only_verified_teachers_create_online_classes(classgroups: Running) -> None:
    cg = classgroups
    unverified = await cg.account("teacher", f"teacher@{SCHOOL}")
    r = await cg.client.post("/v1/online-classes", json={"name": "x"}, headers=cg.as_(unverified))
    assert r.status_code == 403 and r.json()["code"] == "not_verified_teacher"
    teacher = await cg.account("teacher", verified_school=SCHOOL)
    await online_class(cg, teacher)


async def test_join_by_code_leave_and_revoke(classgroups: Running, events) -> None:
    cg = classgroups
    teacher = await cg.account("teacher", verified_school=SCHOOL)
    a, b = await cg.account("student"), await cg.account("student")
    cid = await online_class(cg, teacher)
    code = await code_of(cg, teacher, cid)
    typed = f"{code[:4].lower()}-{code[4:]}"  # how a child types it
    r = await cg.client.post("/v1/joins", json={"code": typed}, headers=student_headers(cg, a))
    assert r.status_code == 200 and r.json()["status"] == "active", r.text
    await events.wait_for("cn.smartedu.classgroups.member.joined.v1", lambda e: e["account_id"] == a)
    r = await cg.client.post("/v1/joins", json={"code": code}, headers=student_headers(cg, a))
    assert r.status_code == 409
    # members leave; a left member may join again
    assert (await cg.client.post(f"/v1/classes/{cid}/leave", headers=cg.as_(a))).status_code == 200
    await events.wait_for("cn.smartedu.classgroups.member.left.v1", lambda e: e["account_id"] == a)
    r = await cg.client.post("/v1/joins", json={"code": code}, headers=student_headers(cg, a))
    assert r.status_code == 200 and r.json()["status"] == "active"
    # revoked: the same answer as a code that never existed
    assert (await cg.client.delete(f"/v1/classes/{cid}/codes/{code}", headers=cg.as_(teacher))).status_code == 204
    r = await cg.client.post("/v1/joins", json={"code": code}, headers=student_headers(cg, b))
    assert r.status_code == 404 and r.json()["code"] == "unknown_code"
    # a parent or a teacher does not join with a code
    r = await cg.client.post("/v1/joins", json={"code": code}, headers=cg.as_(teacher, kind="teacher"))
    assert r.status_code == 403


async def test_expired_code_is_gone(classgroups: Running) -> None:
    cg = classgroups
    teacher = await cg.account("teacher", verified_school=SCHOOL)
    student = await cg.account("student")
    cid = await online_class(cg, teacher)
    code = await code_of(cg, teacher, cid)
    await cg.handlers.store.db["codes"].update_one(
        {"_id": code}, {"$set": {"exp": datetime.now(UTC) - timedelta(seconds=1)}}
    )
    r = await cg.client.post("/v1/joins", json={"code": code}, headers=student_headers(cg, student))
    assert r.status_code == 410 and r.json()["code"] == "code_expired"


async def test_code_guessing_is_limited_under_concurrency(classgroups: Running) -> None:
    """The fixture allows 5 failures per window: 20 parallel guesses get at most 5 answers of 404, the rest 429
    (slots are unique inserts), and then even the right code is refused until the window ends."""
    cg = classgroups
    teacher = await cg.account("teacher", verified_school=SCHOOL)
    guesser = await cg.account("student")
    cid = await online_class(cg, teacher)
    code = await code_of(cg, teacher, cid)
    headers = student_headers(cg, guesser)
    guesses = [f"ABCD{i:04d}".replace("0", "A").replace("1", "B") for i in range(20)]
    answers = await asyncio.gather(*[cg.client.post("/v1/joins", json={"code": g}, headers=headers) for g in guesses])
    statuses = sorted(r.status_code for r in answers)
    assert statuses.count(404) <= 5 and statuses.count(429) >= 15, statuses
    assert all("Retry-After" in r.headers for r in answers if r.status_code == 429)
    r = await cg.client.post("/v1/joins", json={"code": code}, headers=headers)
    assert r.status_code == 429


async def test_approval_invitation_and_transfer(classgroups: Running, events) -> None:
    cg = classgroups
    owner = await cg.account("teacher", verified_school=SCHOOL)
    heir = await cg.account("teacher", verified_school=SCHOOL)
    s1, s2, s3 = [await cg.account("student") for _ in range(3)]
    cid = await online_class(cg, owner, approval=True)
    code = await code_of(cg, owner, cid)
    for s in (s1, s2):
        r = await cg.client.post("/v1/joins", json={"code": code}, headers=student_headers(cg, s))
        assert r.json()["status"] == "pending"
    # a pending student is not a member yet
    assert (await cg.client.get(f"/v1/classes/{cid}/members", headers=cg.as_(s1))).status_code == 403
    r = await cg.client.post(f"/v1/classes/{cid}/members/{s1}/approve", headers=cg.as_(owner))
    assert r.json()["status"] == "active"
    r = await cg.client.post(f"/v1/classes/{cid}/members/{s2}/reject", headers=cg.as_(owner))
    assert r.json()["status"] == "left"
    # an invitation needs no approval
    r = await cg.client.post(f"/v1/classes/{cid}/invitations", json={"account_id": s3}, headers=cg.as_(owner))
    assert r.status_code == 201
    assert (await cg.client.post(f"/v1/classes/{cid}/invitation/accept", headers=cg.as_(s3))).status_code == 200
    r = await cg.client.get(f"/v1/classes/{cid}/members", headers=cg.as_(owner))
    assert sorted(m["account_id"] for m in r.json()) == sorted([s1, s3])
    # the owner hands the class over: the heir owns it, the previous owner no longer does
    r = await cg.client.post(f"/v1/classes/{cid}/transfer", json={"to": heir}, headers=cg.as_(owner))
    assert r.status_code == 200 and r.json()["owner_id"] == heir
    await events.wait_for("cn.smartedu.classgroups.ownership.transferred.v1", lambda e: e["class_id"] == cid)
    assert (await cg.client.post(f"/v1/classes/{cid}/codes", json={}, headers=cg.as_(owner))).status_code == 404
    assert (await cg.client.post(f"/v1/classes/{cid}/codes", json={}, headers=cg.as_(heir))).status_code == 201
    # a member may not transfer, nor reach another class's codes
    r = await cg.client.post(f"/v1/classes/{cid}/transfer", json={"to": owner}, headers=cg.as_(s1))
    assert r.status_code == 403


async def test_one_decision_wins_under_concurrency(classgroups: Running, events) -> None:
    """Twenty concurrent approvals and rejections of one request to join: FerretDB's conditional updates are not
    atomic, the transition claim is: exactly one decision is stored and announced, the rest learn 409."""
    cg = classgroups
    owner = await cg.account("teacher", verified_school=SCHOOL)
    student = await cg.account("student")
    cid = await online_class(cg, owner, approval=True)
    code = await code_of(cg, owner, cid)
    r = await cg.client.post("/v1/joins", json={"code": code}, headers=student_headers(cg, student))
    assert r.json()["status"] == "pending"
    url = f"/v1/classes/{cid}/members/{student}"
    answers = await asyncio.gather(
        *[cg.client.post(f"{url}/{'approve' if i % 2 else 'reject'}", headers=cg.as_(owner)) for i in range(20)]
    )
    winners = [r for r in answers if r.status_code == 200]
    assert len(winners) == 1 and sorted({r.status_code for r in answers}) == [200, 409], [r.text for r in answers]
    stored = await cg.handlers.store.classes.membership(cid, student)
    assert stored.status == winners[0].json()["status"] and stored.version == 2
    await cg.relayed()
    decided = (
        "cn.smartedu.classgroups.member.joined.v1"
        if stored.status == "active"
        else "cn.smartedu.classgroups.member.left.v1"
    )
    await events.wait_for(decided, lambda e: e["account_id"] == student)
    both = [
        e
        for t, e in events.seen
        if e.get("account_id") == student and t.endswith(("member.joined.v1", "member.left.v1"))
    ]
    assert len(both) == 1, both
