"""Leave requests (请假): a student or a parent asks, the head teacher (or the delegate) decides, the family
cancels before the leave starts, subject teachers see who is away today (Beijing time); every step published."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from classgroups.domain.leaves import beijing_today
from classgroups.handlers import now
from tests.integration.classgroups.conftest import SCHOOL, Running, presigned_upload
from tests.integration.classgroups.media_samples import jpeg
from tests.integration.classgroups.test_classes import ADMIN, admin_class, roster
from tests.integration.classgroups.test_online import online_class

pytestmark = pytest.mark.integration


def leave(student: str, first=0, last=0, **extra):
    today = beijing_today(now())
    body = {
        "student_id": student,
        "kind": "sick",
        "first_day": (today + timedelta(days=first)).isoformat(),
        "last_day": (today + timedelta(days=last)).isoformat(),
        "reason": "发烧 38.5℃",
    }
    return body | extra


async def test_leave_requests(classgroups: Running, events) -> None:
    cg = classgroups
    admin = await cg.account("teacher", ADMIN)
    head = await cg.account("teacher", verified_school=SCHOOL)
    math = await cg.account("teacher", verified_school=SCHOOL)
    s1, s2 = [await cg.account("student", f"student@{SCHOOL}") for _ in range(2)]
    parent, stranger = await cg.account("parent"), await cg.account("parent")
    await cg.link(s1, parent)
    cid = await admin_class(cg, admin, "请假班", 2033)
    await roster(cg, admin, cid, f'{{"account_id": "{s1}"}}\n{{"account_id": "{s2}"}}')
    teachers = {"head_teacher_id": head, "subject_teachers": [{"teacher_id": math, "subject": "math"}]}
    assert (await cg.client.put(f"/v1/classes/{cid}/teachers", json=teachers, headers=cg.as_(admin, ADMIN))).is_success
    url = f"/v1/classes/{cid}/leaves"

    # who may ask: the parent for the child, the student for themself; not a classmate, not a stranger
    r = await cg.client.post(url, json=leave(s1), headers=cg.as_(parent))
    assert r.status_code == 201, r.text
    today_leave = r.json()["id"]
    requested = await events.wait_for(
        "cn.smartedu.classgroups.leave.requested.v1", lambda e: e["leave_id"] == today_leave
    )
    assert "reason" not in requested and "attachment" not in requested
    assert (await cg.client.post(url, json=leave(s1), headers=cg.as_(s2))).status_code == 403
    assert (await cg.client.post(url, json=leave(s1), headers=cg.as_(stranger))).status_code == 404
    # bad input: field by field
    r = await cg.client.post(url, json=leave(s1, first=2, last=1), headers=cg.as_(s1))
    assert r.status_code == 422 and r.json()["code"] == "backwards"
    r = await cg.client.post(url, json=leave(s1, first=1, last=2, periods=[1, 2]), headers=cg.as_(s1))
    assert r.status_code == 422 and r.json()["code"] == "periods_of_one_day"
    r = await cg.client.post(
        url, json=leave(s1, attachment={"key": "../../etc/passwd", "content_type": "image/jpeg"}), headers=cg.as_(s1)
    )
    assert r.status_code == 422 and r.json()["code"] == "bad_attachment"

    # a subject teacher does not decide (until named delegate); the head teacher does, once
    assert (await cg.client.post(f"{url}/{today_leave}/approve", json={}, headers=cg.as_(math))).status_code == 403
    r = await cg.client.post(f"{url}/{today_leave}/approve", json={"note": "好好休息"}, headers=cg.as_(head))
    assert r.status_code == 200 and r.json()["status"] == "approved"
    assert (await cg.client.post(f"{url}/{today_leave}/reject", json={}, headers=cg.as_(head))).status_code == 409
    decided = await events.wait_for("cn.smartedu.classgroups.leave.decided.v1", lambda e: e["leave_id"] == today_leave)
    assert decided["decision"] == "approved" and decided["by"] == head

    # subject teachers see who is away today, without the reason
    r = await cg.client.get(f"/v1/classes/{cid}/away-today", headers=cg.as_(math))
    assert r.status_code == 200
    away = r.json()["away"]
    assert [a["student_id"] for a in away] == [s1] and "reason" not in away[0]
    assert (await cg.client.get(f"/v1/classes/{cid}/away-today", headers=cg.as_(s2))).status_code == 403

    # a leave starting tomorrow can be cancelled; one that started cannot
    r = await cg.client.post(url, json=leave(s1, first=1, last=1, periods=[3, 4]), headers=cg.as_(s1))
    tomorrow = r.json()["id"]
    assert (await cg.client.post(f"{url}/{tomorrow}/cancel", headers=cg.as_(parent))).json()["status"] == "cancelled"
    r = await cg.client.post(f"{url}/{today_leave}/cancel", headers=cg.as_(s1))
    assert r.status_code == 409 and r.json()["code"] == "started"

    # the head teacher names the math teacher delegate, who then decides
    r = await cg.client.put(f"/v1/classes/{cid}/leave-delegate", json={"teacher_id": math}, headers=cg.as_(head))
    assert r.status_code == 200, r.text
    r = await cg.client.post(url, json=leave(s2, first=2, last=3, kind="personal"), headers=cg.as_(s2))
    later = r.json()["id"]
    assert (await cg.client.post(f"{url}/{later}/reject", json={}, headers=cg.as_(math))).json()["status"] == "rejected"

    # the parent sees the child's requests and their history, and nobody else's
    r = await cg.client.get(f"/v1/students/{s1}/leaves", headers=cg.as_(parent))
    statuses = {x["id"]: x["status"] for x in r.json()}
    assert statuses == {today_leave: "approved", tomorrow: "cancelled"}
    history = next(x for x in r.json() if x["id"] == today_leave)["history"]
    assert [(h["action"], h["by"]) for h in history] == [("requested", parent), ("approved", head)]
    assert (await cg.client.get(f"/v1/students/{s2}/leaves", headers=cg.as_(parent))).status_code == 404
    r = await cg.client.get(url, headers=cg.as_(head), params={"status": "pending"})
    assert r.status_code == 200 and r.json() == []


async def test_online_classes_have_no_leave_requests(classgroups: Running) -> None:
    cg = classgroups
    owner = await cg.account("teacher", verified_school=SCHOOL)
    student = await cg.account("student")
    cid = await online_class(cg, owner)
    r = await cg.client.post(f"/v1/classes/{cid}/invitations", json={"account_id": student}, headers=cg.as_(owner))
    assert r.status_code == 201
    await cg.client.post(f"/v1/classes/{cid}/invitation/accept", headers=cg.as_(student))
    r = await cg.client.post(f"/v1/classes/{cid}/leaves", json=leave(student), headers=cg.as_(student))
    assert r.status_code == 409 and r.json()["code"] == "not_administrative"


async def attach(cg: Running, who: str, class_id: str, student: str, data: bytes, ctype: str) -> tuple[str, int]:
    body = {"student_id": student, "content_type": ctype, "size": len(data)}
    key, done = await presigned_upload(cg, f"/v1/classes/{class_id}/leave-uploads", body, cg.as_(who), data)
    return key, done.status_code


async def test_leave_attachments_are_checked_against_the_object_store(classgroups: Running) -> None:
    cg = classgroups
    admin = await cg.account("teacher", ADMIN)
    head = await cg.account("teacher", verified_school=SCHOOL)
    s1, s2 = [await cg.account("student", f"student@{SCHOOL}") for _ in range(2)]
    parent = await cg.account("parent")
    await cg.link(s1, parent)
    cid = await admin_class(cg, admin, "附件班", 2034)
    await roster(cg, admin, cid, f'{{"account_id": "{s1}"}}\n{{"account_id": "{s2}"}}')
    teachers = {"head_teacher_id": head, "subject_teachers": []}
    assert (await cg.client.put(f"/v1/classes/{cid}/teachers", json=teachers, headers=cg.as_(admin, ADMIN))).is_success
    url = f"/v1/classes/{cid}/leaves"

    # the parent uploads a photo of the doctor's note (real bytes, real client), then asks for leave with it
    note = jpeg()
    key, status = await attach(cg, parent, cid, s1, note, "image/jpeg")
    assert status in (200, 201, 204)
    r = await cg.client.post(
        url, json=leave(s1, attachment={"key": key, "content_type": "image/jpeg"}), headers=cg.as_(parent)
    )
    assert r.status_code == 201, r.text
    assert r.json()["attachment"]["key"] == key
    listed = (await cg.client.get(url, headers=cg.as_(head))).json()
    async with httpx.AsyncClient(timeout=30) as s3:
        assert (await s3.get(listed[0]["attachment"]["url"])).content == note
    away = (await cg.client.get(f"/v1/classes/{cid}/away-today", headers=cg.as_(head))).json()["away"]
    assert all("attachment" not in a for a in away)

    # a key never uploaded, bytes that are not what they claim, another child's upload: clear problems
    never = f"leaves/{cid}/{s1}/{'0' * 32}"
    r = await cg.client.post(
        url, json=leave(s1, attachment={"key": never, "content_type": "image/jpeg"}), headers=cg.as_(s1)
    )
    assert r.status_code == 422 and r.json()["code"] == "media_missing", r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["errors"][0]["field"].endswith("attachment.key")
    fake_pdf, _ = await attach(cg, s1, cid, s1, jpeg(colour=(0, 0, 255)), "application/pdf")
    r = await cg.client.post(
        url, json=leave(s1, attachment={"key": fake_pdf, "content_type": "application/pdf"}), headers=cg.as_(s1)
    )
    assert r.status_code == 422 and r.json()["code"] == "media_type_mismatch", r.text
    assert r.json()["errors"][0]["field"].endswith("attachment.content_type")
    theirs, _ = await attach(cg, s2, cid, s2, jpeg(), "image/jpeg")
    r = await cg.client.post(
        url, json=leave(s1, attachment={"key": theirs, "content_type": "image/jpeg"}), headers=cg.as_(s1)
    )
    assert r.status_code == 422 and r.json()["code"] == "media_foreign"
    # uploads: only photos and PDFs, by the student or a guardian, within the limit
    body = {"student_id": s1, "content_type": "video/mp4", "size": 1000}
    r = await cg.client.post(f"/v1/classes/{cid}/leave-uploads", json=body, headers=cg.as_(s1))
    assert r.status_code == 422 and r.json()["code"] == "media_type_refused"
    body = {"student_id": s1, "content_type": "image/jpeg", "size": 1000}
    assert (await cg.client.post(f"/v1/classes/{cid}/leave-uploads", json=body, headers=cg.as_(s2))).status_code == 403
    # nothing refused was stored
    assert [x["attachment"]["key"] for x in (await cg.client.get(url, headers=cg.as_(head))).json()] == [key]
