"""Identity deactivates an account (its ``UserDeactivated`` event on ``identity.users.v1``, built with identity's
contract): class groups end the account's memberships, invitations, requests and studio places, one event each,
free its administrative place, revoke the join codes of the online classes it owns (the classes stay), and do
nothing twice when the event comes again. The e2e tier drives the same through identity's own route
(``tests/e2e/test_classgroups_identity.py``)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from common.contracts.classgroups import STUDIOS_TOPIC
from common.contracts.identity import UserDeactivated
from tests.integration.classgroups.conftest import OTHER_SCHOOL, SCHOOL, Events, Running, topic_events
from tests.integration.classgroups.test_classes import ADMIN, admin_class, roster
from tests.integration.classgroups.test_online import code_of, online_class, student_headers
from tests.integration.classgroups.test_studios import member_of, new_studio

pytestmark = pytest.mark.integration
LEFT, STUDIO_LEFT = "cn.smartedu.classgroups.member.left.v1", "cn.smartedu.classgroups.studio.member.left.v1"


@pytest.fixture(scope="module")
async def studio_events() -> AsyncIterator[Events]:
    async with topic_events(STUDIOS_TOPIC) as seen:
        yield seen


async def deactivate(cg: Running, uid: str, by: str) -> None:
    """Identity's event, as identity publishes it; then wait until the directory has it."""
    await cg.publish(UserDeactivated(user_id=uid, occurred_at=datetime.now(UTC), by=by))
    await cg.until(lambda: _inactive(cg, uid))


async def _inactive(cg: Running, uid: str) -> bool:
    account = await cg.handlers.store.directory.account(uid)
    return account is not None and not account.active


async def test_a_deactivated_account_leaves_everything_once(
    classgroups: Running, events: Events, studio_events: Events
) -> None:
    cg = classgroups
    admin = await cg.account("teacher", ADMIN)
    owner = await cg.account("teacher", verified_school=SCHOOL)
    leader = await cg.account("teacher", verified_school=SCHOOL)
    guest, applicant = [await cg.account("teacher", verified_school=OTHER_SCHOOL) for _ in range(2)]
    student, classmate = [await cg.account("student", f"student@{SCHOOL}") for _ in range(2)]

    # the student: in an administrative class, a member of one online class, waiting for approval in another
    year = 2040 + uuid.uuid4().int % 50
    adm = await admin_class(cg, admin, "注销班", year)
    r = await roster(cg, admin, adm, f'{{"account_id": "{student}"}}\n{{"account_id": "{classmate}"}}')
    assert r.json()["added"] == 2
    online, waiting = await online_class(cg, owner), await online_class(cg, owner, approval=True)
    for cid in (online, waiting):
        code = await code_of(cg, owner, cid)
        assert (await cg.client.post("/v1/joins", json={"code": code}, headers=student_headers(cg, student))).is_success
    # the teachers: a studio's member and an applicant
    sid = await new_studio(cg, leader)
    await member_of(cg, sid, leader, guest)
    assert (await cg.client.post(f"/v1/studios/{sid}/applications", headers=cg.as_(applicant))).status_code == 201

    await deactivate(cg, student, admin)
    for cid in (adm, online, waiting):
        left = await events.wait_for(LEFT, lambda e, c=cid: e["class_id"] == c and e["account_id"] == student)
        assert left["reason"] == "removed" and left["by"] == admin
    members = (await cg.client.get(f"/v1/classes/{adm}/members", headers=cg.as_(admin, ADMIN))).json()
    assert [m["account_id"] for m in members] == [classmate]
    claim = f"adm:{SCHOOL}:{year}:{student}"
    assert await cg.handlers.store.db["claims"].find_one({"_id": claim}) is None  # the place is freed

    for teacher in (guest, applicant):
        await deactivate(cg, teacher, "identity-admin")
        left = await studio_events.wait_for(STUDIO_LEFT, lambda e, t=teacher: e["account_id"] == t)
        assert left["reason"] == "deactivated" and left["studio_id"] == sid
    assert (await cg.client.get(f"/v1/studios/{sid}/members", headers=cg.as_(leader))).json() == []

    # the owner of online classes: the classes stay with their members, their join codes stop working
    code = await code_of(cg, owner, online)
    await deactivate(cg, owner, admin)
    r = await cg.client.post("/v1/joins", json={"code": code}, headers=student_headers(cg, classmate))
    assert r.status_code == 404 and r.json()["code"] == "unknown_code"
    assert (await cg.client.get(f"/v1/classes/{online}", headers=cg.as_(owner))).status_code == 200

    # identity's outbox may deliver the event again (another event id): nothing ends twice
    await cg.publish(UserDeactivated(user_id=student, occurred_at=datetime.now(UTC), by=admin))
    await cg.publish(UserDeactivated(user_id=guest, occurred_at=datetime.now(UTC), by=admin))
    await cg.until(lambda: _seen_twice(cg, student))
    await cg.until(lambda: _seen_twice(cg, guest))
    await cg.relayed()
    seen = await events.drain()
    assert len([e for t, e in seen if t == LEFT and e["account_id"] == student]) == 3
    seen = await studio_events.drain()
    assert len([e for t, e in seen if t == STUDIO_LEFT and e["account_id"] == guest]) == 1


async def _seen_twice(cg: Running, uid: str) -> bool:
    account = await cg.handlers.store.directory.account(uid)
    return account is not None and len(account.seen) >= 4  # registered, granted or verified, deactivated twice
