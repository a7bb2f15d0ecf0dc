"""Class groups' business figures rise by exactly the actions done through the public API, under the right label,
as a scrape of ``/metrics`` reads them, and not on a refused action: check-ins submitted
(``classgroups_checkins_submitted_total`` by ``submitted_by``) and after-school course requests accepted
(``classgroups_course_selections_total`` by ``kind``). On the real Kafka, FerretDB and object store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.integration.classgroups.conftest import SCHOOL, Running
from tests.integration.classgroups.test_checkins import School, task_body, today
from tests.integration.common.figures import Figure

pytestmark = pytest.mark.integration
CHECKINS, SELECTIONS = "classgroups_checkins_submitted_total", "classgroups_course_selections_total"
ADMIN = f"school_admin@{SCHOOL}"


@pytest.fixture(scope="module")
async def school(classgroups: Running) -> School:
    return await School(classgroups).build()  # class A of grade 4: s1, s2 (the parent's child)


async def test_check_ins_are_counted_by_submitter_and_refused_ones_are_not(classgroups: Running, school) -> None:
    cg, s = classgroups, school
    s1, parent = cg.as_(s.s1, f"student@{SCHOOL}"), cg.as_(s.parent, kind="parent")
    body = task_body(evidence={"text": True, "photos": 0, "video": False}, labour=False)
    r = await cg.client.post(f"/v1/classes/{s.a}/checkin-tasks", json=body, headers=cg.as_(s.teacher))
    assert r.status_code == 201, r.text
    submissions = f"/v1/classes/{s.a}/checkin-tasks/{r.json()['task_id']}/submissions"
    checkins = await Figure(cg.client, CHECKINS).mark()
    assert set(await checkins.values()) == {"student", "parent"}

    day = str(today())
    r = await cg.client.post(submissions, json={"day": day, "text": "我洗了碗。"}, headers=s1)
    assert r.status_code == 201, r.text
    r = await cg.client.post(submissions, json={"student_id": s.s2, "day": day, "text": "扫地"}, headers=parent)
    assert r.status_code == 201, r.text
    assert await checkins.rise() == {"student": 1, "parent": 1}

    refused = [
        ({"day": day, "text": "again"}, s1, 409),  # the same day twice (a client's retry)
        ({"day": str(today() + timedelta(1)), "text": "明天"}, s1, 422),  # a day not yet come
        ({"day": day, "text": ""}, s1, 422),  # the task asks for text
        ({"day": day, "text": "x", "photo": "y"}, s1, 422),  # an unknown field
        ({"student_id": s.s1, "day": day, "text": "x"}, parent, 403),  # not the parent's child
        ({"student_id": s.s2, "day": str(today() - timedelta(3)), "text": "x"}, parent, 410),  # closed (late_days 2)
    ]
    for body, headers, status in refused:
        r = await cg.client.post(submissions, json=body, headers=headers)
        assert r.status_code == status, (body, r.text)
    assert await checkins.rise() == {"student": 1, "parent": 1}

    # a student naming themself is still a student's check-in; the parent's late one for yesterday counts too
    yesterday = str(today() - timedelta(1))
    r = await cg.client.post(submissions, json={"student_id": s.s1, "day": yesterday, "text": "补"}, headers=s1)
    assert r.status_code == 201, r.text
    r = await cg.client.post(submissions, json={"student_id": s.s2, "day": yesterday, "text": "补"}, headers=parent)
    assert r.status_code == 201, r.text
    assert await checkins.rise() == {"student": 2, "parent": 2}


def course_body(**over: object) -> dict:
    """An after-school course of SCHOOL for grade 4, open for selection now (the ops tier's traffic uses it too)."""
    now = datetime.now(UTC)
    return {
        "school": SCHOOL,
        "term": f"{now.year}-autumn",
        "title": "机器人社团",
        "capacity": 20,
        "slots": [{"weekday": 3, "starts": "16:00", "ends": "17:00"}],
        "grades": [4],
        "opens_at": (now - timedelta(hours=1)).isoformat(),
        "closes_at": (now + timedelta(days=2)).isoformat(),
    } | over


async def publish_course(cg: Running, admin: str, **over) -> str:
    r = await cg.client.post("/v1/courses", json=course_body(**over), headers=cg.as_(admin, ADMIN))
    assert r.status_code == 201, r.text
    return r.json()["course_id"]


async def test_course_requests_are_counted_by_kind_and_refused_ones_are_not(classgroups: Running, school) -> None:
    cg, s = classgroups, school
    s1, parent = cg.as_(s.s1, f"student@{SCHOOL}", kind="student"), cg.as_(s.parent, kind="parent")
    course = await publish_course(cg, s.admin)
    later = await publish_course(cg, s.admin, opens_at=(datetime.now(UTC) + timedelta(days=1)).isoformat())
    older = await publish_course(cg, s.admin, grades=[6])
    selections = await Figure(cg.client, SELECTIONS).mark()
    assert set(await selections.values()) == {"select", "drop"}

    r = await cg.client.post(f"/v1/courses/{course}/selections", json={}, headers=s1)
    assert r.status_code == 202, r.text
    r = await cg.client.post(f"/v1/courses/{course}/selections", json={"student_id": s.s2}, headers=parent)
    assert r.status_code == 202, r.text
    r = await cg.client.post(f"/v1/courses/{course}/drops", json={}, headers=s1)
    assert r.status_code == 202, r.text
    assert await selections.rise() == {"select": 2, "drop": 1}

    refused = [
        (f"/v1/courses/{later}/selections", {}, s1, 409),  # the window is not open yet
        (f"/v1/courses/{older}/selections", {}, s1, 422),  # grade 4 may not choose a grade-6 course
        (f"/v1/courses/{course}/selections", {"student_id": s.s1}, parent, 403),  # not the parent's child
        (f"/v1/courses/{course}/selections", {"seat": 1}, s1, 422),  # an unknown field
        (f"/v1/courses/{'0' * 32}/selections", {}, s1, 404),  # no such course
        (f"/v1/courses/{course}/selections", {}, cg.as_(s.teacher, kind="teacher"), 403),  # teachers do not choose
    ]
    for url, body, headers, status in refused:
        r = await cg.client.post(url, json=body, headers=headers)
        assert r.status_code == status, (url, body, r.text)
    assert await selections.rise() == {"select": 2, "drop": 1}
