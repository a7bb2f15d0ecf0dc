"""Administrative classes and rosters, online classes, the directory from identity's events; each through the
public API on real Kafka and FerretDB, with the inside/outside access rules."""

from __future__ import annotations

import asyncio

import pytest

from tests.integration.classgroups.conftest import OTHER_SCHOOL, SCHOOL, Running

pytestmark = pytest.mark.integration
ADMIN = f"school_admin@{SCHOOL}"


async def admin_class(cg: Running, admin: str, name: str = "2026级3班", year: int = 2026, grade: int = 7) -> str:
    body = {"school": SCHOOL, "school_year": year, "grade": grade, "name": name}
    r = await cg.client.post("/v1/administrative-classes", json=body, headers=cg.as_(admin, ADMIN))
    assert r.status_code == 201, r.text
    return r.json()["id"]


async def roster(cg: Running, admin: str, class_id: str, lines: str, ctype: str = "application/x-ndjson"):
    headers = {**cg.as_(admin, ADMIN), "Content-Type": ctype}
    return await cg.client.post(f"/v1/classes/{class_id}/roster", content=lines.encode(), headers=headers)


async def test_admin_creates_rosters_and_names_teachers(classgroups: Running, events) -> None:
    cg = classgroups
    admin = await cg.account("teacher", ADMIN)
    head = await cg.account("teacher", verified_school=SCHOOL)
    math = await cg.account("teacher", verified_school=SCHOOL)
    unverified = await cg.account("teacher", f"teacher@{SCHOOL}")
    students = [await cg.account("student", f"student@{SCHOOL}") for _ in range(3)]
    outsider = await cg.account("student", f"student@{OTHER_SCHOOL}")
    cid = await admin_class(cg, admin)
    created = await events.wait_for("cn.smartedu.classgroups.class.created.v1", lambda e: e["class_id"] == cid)
    assert created["school"] == SCHOOL and created["kind"] == "administrative"

    # an admin of another school may not create a class here
    r = await cg.client.post(
        "/v1/administrative-classes",
        json={"school": SCHOOL, "school_year": 2026, "grade": 7, "name": "x"},
        headers=cg.as_(admin, f"school_admin@{OTHER_SCHOOL}"),
    )
    assert r.status_code == 403

    # teachers: verified teachers of the school only, field by field
    body = {"head_teacher_id": head, "subject_teachers": [{"teacher_id": math, "subject": "math"}]}
    r = await cg.client.put(f"/v1/classes/{cid}/teachers", json=body, headers=cg.as_(admin, ADMIN))
    assert r.status_code == 200, r.text
    assert r.json()["head_teacher_id"] == head
    bad = {"head_teacher_id": unverified, "subject_teachers": []}
    r = await cg.client.put(f"/v1/classes/{cid}/teachers", json=bad, headers=cg.as_(admin, ADMIN))
    assert r.status_code == 422 and r.json()["code"] == "not_a_teacher", r.text

    # roster: good rows kept, bad rows reported with their line numbers; a second import adds nothing
    lines = "\n".join(
        [f'{{"account_id": "{s}"}}' for s in students] + ["not json", f'{{"account_id": "{outsider}"}}', '{"x": 1}']
    )
    r = await roster(cg, admin, cid, lines)
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["added"] == 3
    assert {(b["line"], b["reason"]) for b in report["bad"]} == {
        (4, "not_json"),
        (5, "not_a_student_of_the_school"),
        (6, "bad_account_id"),
    }
    again = await roster(cg, admin, cid, "account_id\n" + "\n".join(students) + "\n", "text/csv")
    assert again.json()["added"] == 0 and again.json()["already"] == 3
    await events.wait_for("cn.smartedu.classgroups.member.joined.v1", lambda e: e["account_id"] == students[0])

    # the roster as the head teacher sees it; a student sees classmates; an outsider learns nothing
    r = await cg.client.get(f"/v1/classes/{cid}/members", headers=cg.as_(head))
    assert sorted(m["account_id"] for m in r.json()) == sorted(students)
    r = await cg.client.get(f"/v1/classes/{cid}", headers=cg.as_(students[0]))
    assert r.status_code == 200 and "member" in r.json()["your_relations"]
    r = await cg.client.get(f"/v1/classes/{cid}", headers=cg.as_(outsider))
    assert r.status_code == 404


async def test_a_student_is_in_one_administrative_class_per_school_year(classgroups: Running) -> None:
    """Two imports racing to put the same students into two classes of one school year: each student lands in
    exactly one, the other import reports the row (claims are unique inserts; FerretDB has no transactions)."""
    cg = classgroups
    admin = await cg.account("teacher", ADMIN)
    students = [await cg.account("student", f"student@{SCHOOL}") for _ in range(8)]
    a, b = await admin_class(cg, admin, "2027级1班", 2027), await admin_class(cg, admin, "2027级2班", 2027)
    body = "\n".join(f'{{"account_id": "{s}"}}' for s in students)
    ra, rb = await asyncio.gather(roster(cg, admin, a, body), roster(cg, admin, b, body))
    assert ra.status_code == rb.status_code == 200
    added = ra.json()["added"] + rb.json()["added"]
    elsewhere = [x for r in (ra, rb) for x in r.json()["bad"] if x["reason"] == "in_another_class"]
    assert added == len(students) and len(elsewhere) == len(students)
    in_a = {m.account_id for m in await cg.handlers.store.classes.members(a)}
    in_b = {m.account_id for m in await cg.handlers.store.classes.members(b)}
    assert not in_a & in_b and in_a | in_b == set(students)
    # another school year is another place
    c = await admin_class(cg, admin, "2028级1班", 2028)
    assert (await roster(cg, admin, c, body)).json()["added"] == len(students)


async def test_removed_student_frees_the_place(classgroups: Running) -> None:
    cg = classgroups
    admin = await cg.account("teacher", ADMIN)
    student = await cg.account("student", f"student@{SCHOOL}")
    a, b = await admin_class(cg, admin, "1班", 2029), await admin_class(cg, admin, "2班", 2029)
    line = f'{{"account_id": "{student}"}}'
    assert (await roster(cg, admin, a, line)).json()["added"] == 1
    assert (await roster(cg, admin, b, line)).json()["bad"][0]["class_id"] == a
    r = await cg.client.delete(f"/v1/classes/{a}/members/{student}", headers=cg.as_(admin, ADMIN))
    assert r.status_code == 200 and r.json()["status"] == "left"
    assert (await roster(cg, admin, b, line)).json()["added"] == 1


async def test_parent_sees_only_their_child(classgroups: Running) -> None:
    cg = classgroups
    admin = await cg.account("teacher", ADMIN)
    child, other = [await cg.account("student", f"student@{SCHOOL}") for _ in range(2)]
    parent = await cg.account("parent")
    cid = await admin_class(cg, admin, "3班", 2030)
    await roster(cg, admin, cid, f'{{"account_id": "{child}"}}\n{{"account_id": "{other}"}}')
    r = await cg.client.get(f"/v1/students/{child}/classes", headers=cg.as_(parent))
    assert r.status_code == 404  # not linked yet
    await cg.link(child, parent)
    r = await cg.client.get(f"/v1/students/{child}/classes", headers=cg.as_(parent))
    assert r.status_code == 200 and [c["id"] for c in r.json()] == [cid]
    r = await cg.client.get(f"/v1/classes/{cid}", headers=cg.as_(parent))
    assert r.status_code == 200 and r.json()["your_relations"] == ["guardian"]
    assert (await cg.client.get(f"/v1/students/{other}/classes", headers=cg.as_(parent))).status_code == 404
    # the roster is for the class's teachers and members, not the parents
    assert (await cg.client.get(f"/v1/classes/{cid}/members", headers=cg.as_(parent))).status_code == 403


async def test_role_changes_take_effect_without_restart(classgroups: Running) -> None:
    cg = classgroups
    admin = await cg.account("teacher", ADMIN)
    student = await cg.account("student", f"student@{SCHOOL}")
    cid = await admin_class(cg, admin, "4班", 2031)
    await cg.revoke(student, f"student@{SCHOOL}")  # left the school
    r = await roster(cg, admin, cid, f'{{"account_id": "{student}"}}')
    assert r.json()["bad"][0]["reason"] == "not_a_student_of_the_school"


async def test_directory_is_idempotent_by_event_id(classgroups: Running) -> None:
    from datetime import UTC, datetime

    from common.contracts.identity import RoleGranted

    cg = classgroups
    uid = await cg.account("student")
    grant = RoleGranted(user_id=uid, occurred_at=datetime.now(UTC), role="student", org=SCHOOL, granted_by="a")
    await cg.app.state.kit.publisher.publish_many([grant, grant], event_ids=["same-id", "same-id"])
    await cg.until(lambda: _seen(cg, uid, "same-id"))
    account = await cg.handlers.store.directory.account(uid)
    assert account.seen.count("same-id") == 1 and account.is_student_of(SCHOOL)


async def _seen(cg: Running, uid: str, event_id: str) -> bool:
    account = await cg.handlers.store.directory.account(uid)
    return event_id in account.seen
