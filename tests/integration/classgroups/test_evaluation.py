"""综合素质评价: teachers of the class record points in the five dimensions; a student sees only their own term,
a parent only their child's (with a chart), the head teacher the class summary."""

from __future__ import annotations

import pytest

from tests.integration.classgroups.conftest import SCHOOL, Running
from tests.integration.classgroups.test_classes import ADMIN, admin_class, roster

pytestmark = pytest.mark.integration


async def test_evaluation_records_summaries_and_who_sees_them(classgroups: Running, events) -> None:
    cg = classgroups
    admin = await cg.account("teacher", ADMIN)
    head = await cg.account("teacher", verified_school=SCHOOL)
    pe = await cg.account("teacher", verified_school=SCHOOL)
    s1, s2 = [await cg.account("student", f"student@{SCHOOL}") for _ in range(2)]
    parent = await cg.account("parent")
    await cg.link(s1, parent)
    cid = await admin_class(cg, admin, "评价班", 2034)
    await roster(cg, admin, cid, f'{{"account_id": "{s1}"}}\n{{"account_id": "{s2}"}}')
    teachers = {"head_teacher_id": head, "subject_teachers": [{"teacher_id": pe, "subject": "pe"}]}
    assert (await cg.client.put(f"/v1/classes/{cid}/teachers", json=teachers, headers=cg.as_(admin, ADMIN))).is_success
    url = f"/v1/classes/{cid}/evaluations"

    def ev(student: str, dimension: str, points: int, **extra):
        return {"student_id": student, "dimension": dimension, "points": points, "comment": "认真负责"} | extra

    for who, body in [
        (head, ev(s1, "moral", 3)),
        (head, ev(s1, "labour", 2, evidence={"kind": "checkin", "id": "ck-123"})),
        (pe, ev(s1, "physical", 4)),
        (pe, ev(s1, "physical", -1)),
        (head, ev(s2, "intellectual", 5)),
    ]:
        r = await cg.client.post(url, json=body, headers=cg.as_(who))
        assert r.status_code == 201, r.text
    recorded = await events.wait_for("cn.smartedu.classgroups.evaluation.recorded.v1", lambda e: e["student_id"] == s2)
    assert recorded["points"] == 5 and "comment" not in recorded
    # not a teacher of the class, points out of range, a student outside the class
    assert (await cg.client.post(url, json=ev(s1, "moral", 1), headers=cg.as_(s2))).status_code == 403
    r = await cg.client.post(url, json=ev(s1, "moral", 9), headers=cg.as_(head))
    assert r.status_code == 422 and any("points" in str(e) for e in r.json()["errors"])
    assert (await cg.client.post(url, json=ev(parent, "moral", 1), headers=cg.as_(head))).status_code == 404

    # the student's own term, and the parent's view of it; never a classmate's
    r = await cg.client.get(f"/v1/students/{s1}/evaluations", headers=cg.as_(s1))
    assert r.status_code == 200
    summary = r.json()["summary"]
    assert summary["physical"] == {"points": 3, "records": 2} and summary["moral"]["points"] == 3
    assert summary["aesthetic"] == {"points": 0, "records": 0}
    r = await cg.client.get(f"/v1/students/{s1}/evaluations", headers=cg.as_(parent))
    assert r.status_code == 200 and len(r.json()["records"]) == 4
    for caller in (s2, head):
        assert (await cg.client.get(f"/v1/students/{s1}/evaluations", headers=cg.as_(caller))).status_code == 404
    assert (await cg.client.get(f"/v1/students/{s2}/evaluations", headers=cg.as_(parent))).status_code == 404
    r = await cg.client.get(f"/v1/students/{s1}/evaluations/chart.svg", headers=cg.as_(parent))
    assert r.status_code == 200 and r.headers["content-type"].startswith("image/svg+xml")
    assert "<svg" in r.text and "劳" in r.text
    r = await cg.client.get(f"/v1/students/{s1}/evaluations", params={"term": "2026-3"}, headers=cg.as_(s1))
    assert r.status_code == 422

    # the head teacher's class summary; a subject teacher and the students do not get it
    r = await cg.client.get(f"{url}/summary", headers=cg.as_(head))
    assert r.status_code == 200
    totals = {s["student_id"]: s["dimensions"] for s in r.json()["students"]}
    assert totals[s1]["physical"] == 3 and totals[s2]["intellectual"] == 5 and totals[s2]["moral"] == 0
    assert (await cg.client.get(f"{url}/summary", headers=cg.as_(pe))).status_code == 403
    assert (await cg.client.get(f"{url}/summary", headers=cg.as_(s1))).status_code == 403
