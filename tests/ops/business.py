"""The business actions the observability tier drives through the running stack's public APIs, so that every
business-figure panel has something to show: logins (a success and a failure), check-ins (a student's and a
parent's), course requests (a select and a drop), answers graded (a right and a wrong one), recommendations
served, view beacons and a teacher's heartbeat.

Identity's tokens carry the roles identity grants after its own workflows (a school admin's appointment, teacher
verification against the national registry, a guardian link approved by the school), none of which a test can
drive on a fresh stack in reasonable time. So the stack's other services take, besides identity's keys, one test
key (``Tokens.serve(beside=...)``); the accounts behind the test's tokens reach class groups as identity's own
events, as in the integration tier (``tests/integration/classgroups``)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer

from common.contracts.base import Event
from common.contracts.identity import GuardianLinked, RoleGranted, TeacherVerified, UserRegistered
from common.messaging import encode, kafka_client_options
from common.reference import BEIJING
from tests.integration.classgroups.conftest import SCHOOL
from tests.integration.classgroups.test_business_figures import course_body
from tests.integration.common.helpers import published
from tests.integration.common.tokens import Tokens
from tests.integration.recommender.conftest import tree_lines

ISSUER, AUDIENCE = "https://id.smartedu.cn", "smartedu-api"  # identity's (AuthSettings' defaults)

# What drive_business does, by figure and label value: each must have risen on the Prometheus scraping the stack.
EXPECTED: dict[str, tuple[str, set[str]]] = {
    "identity_logins_total": ("outcome", {"success", "failure"}),
    "classgroups_checkins_submitted_total": ("submitted_by", {"student", "parent"}),
    "classgroups_course_selections_total": ("kind", {"select", "drop"}),
    "recommender_answers_graded_total": ("result", {"correct", "wrong"}),
    "recommender_recommendations_served_total": ("list", {"for_me", "popular"}),
    "viewstats_beacons_accepted_total": ("kind", {"view", "heartbeat"}),
}


def until(check: Callable[[], Any], timeout: float = 120, what: str = "") -> Any:
    """Poll ``check`` until it returns something truthy (a consumer has caught up); fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not (got := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"not in time: {what}")
        time.sleep(0.5)
    return got


async def publish(*events: Event, source: str) -> None:
    producer = AIOKafkaProducer(**kafka_client_options(), acks="all")
    await producer.start()
    try:
        for e in events:
            body, headers = encode(e, source)
            await producer.send_and_wait(
                e.TOPIC, body, key=e.key().encode(), headers=[(k, v.encode()) for k, v in headers.items()]
            )
    finally:
        await producer.stop()


def drive_business(urls: dict[str, str], tokens: Tokens) -> None:
    with httpx.Client(timeout=30) as http:
        logins(http, urls["identity"])
        class_groups(http, urls["classgroups"], tokens)
        learning(http, urls["catalog"], urls["recommender"], urls["viewstats-collector"], tokens)


def logins(http: httpx.Client, identity: str) -> None:
    phone = f"13{uuid.uuid4().int % 10**9:09d}"
    body = {"phone": phone, "password": "Correct-Horse-9", "real_name": "李明", "kind": "parent"}
    assert http.post(f"{identity}/v1/accounts", json=body).status_code == 201
    assert http.post(f"{identity}/v1/sessions", json={"identifier": phone, "password": "Correct-Horse-9"}).is_success
    wrong = {"identifier": phone, "password": "not-the-password"}
    assert http.post(f"{identity}/v1/sessions", json=wrong).status_code == 401


def class_groups(http: httpx.Client, url: str, tokens: Tokens) -> None:
    """A school admin's grade-4 class with a head teacher and a student whose parent is linked; a check-in task the
    student and the parent check in for; an after-school course the student selects and the parent drops."""
    admin, teacher, student, parent = (f"u-ops-{uuid.uuid4().hex[:10]}" for _ in range(4))
    t = datetime.now(UTC)
    registered = [
        UserRegistered(user_id=u, occurred_at=t, kind=k, login_methods=("phone",))
        for u, k in ((admin, "teacher"), (teacher, "teacher"), (student, "student"), (parent, "parent"))
    ]
    asyncio.run(
        publish(
            *registered,
            RoleGranted(user_id=admin, occurred_at=t, role="school_admin", org=SCHOOL, granted_by="ops"),
            RoleGranted(user_id=student, occurred_at=t, role="student", org=SCHOOL, granted_by="ops"),
            TeacherVerified(user_id=teacher, occurred_at=t, outcome="verified", school=SCHOOL),
            GuardianLinked(
                user_id=student, occurred_at=t, guardian_id=parent, approved_by=admin, approver_role="school_admin"
            ),
            source="identity",
        )
    )
    as_admin = tokens.headers(admin, f"school_admin@{SCHOOL}", kind="teacher")
    as_student = tokens.headers(student, f"student@{SCHOOL}", kind="student")
    as_parent = tokens.headers(parent, kind="parent")
    body = {"school": SCHOOL, "school_year": 2026, "grade": 4, "name": "2026级1班"}

    def made() -> str | None:  # once the directory holds the admin
        r = http.post(f"{url}/v1/administrative-classes", json=body, headers=as_admin)
        return r.json()["id"] if r.status_code == 201 else None

    cid = until(made, what="class groups learning the school admin")
    roster = {**as_admin, "Content-Type": "application/x-ndjson"}

    def rostered() -> bool:
        r = http.post(f"{url}/v1/classes/{cid}/roster", content=f'{{"account_id": "{student}"}}', headers=roster)
        return r.status_code == 200 and r.json()["added"] + r.json().get("already", 0) == 1

    until(rostered, what="class groups learning the student")
    head = {"head_teacher_id": teacher}
    until(
        lambda: http.put(f"{url}/v1/classes/{cid}/teachers", json=head, headers=as_admin).status_code == 200,
        what="class groups learning the teacher's verification",
    )
    today = datetime.now(UTC).astimezone(BEIJING).date()
    task = {
        "title": "家务劳动打卡",
        "instructions": "每天做一件家务。",
        "schedule": {"kind": "daily", "starts_on": str(today - timedelta(3)), "ends_on": str(today + timedelta(3))},
        "evidence": {"text": True, "photos": 0, "video": False},
        "late_days": 2,
        "labour": False,
    }
    r = http.post(f"{url}/v1/classes/{cid}/checkin-tasks", json=task, headers=tokens.headers(teacher, kind="teacher"))
    assert r.status_code == 201, r.text
    submissions = f"{url}/v1/classes/{cid}/checkin-tasks/{r.json()['task_id']}/submissions"
    r = http.post(submissions, json={"day": str(today), "text": "我洗了碗。"}, headers=as_student)
    assert r.status_code == 201, r.text

    def parent_known() -> bool:  # the guardian link may arrive after the roster
        mine = {"student_id": student, "day": str(today - timedelta(1)), "text": "扫地"}
        return http.post(submissions, json=mine, headers=as_parent).status_code == 201

    until(parent_known, what="class groups learning the guardian link")

    r = http.post(f"{url}/v1/courses", json=course_body(), headers=as_admin)
    assert r.status_code == 201, r.text
    courses = f"{url}/v1/courses/{r.json()['course_id']}"
    assert http.post(f"{courses}/selections", json={}, headers=as_student).status_code == 202
    assert http.post(f"{courses}/drops", json={"student_id": student}, headers=as_parent).status_code == 202


def learning(http: httpx.Client, catalog: str, recommender: str, collector: str, tokens: Tokens) -> None:
    """An exercise in the catalog answered right and wrong; resources viewed, then recommended to a student and
    listed as popular in the province."""
    version = f"tv.ops{uuid.uuid4().hex[:8]}.primary.math"
    lesson = f"{version}/g5b/u1/l1"
    ministry = {
        **tokens.headers("u-ops-ministry", "ministry_admin", kind="staff"),
        "Content-Type": "application/x-ndjson",
    }
    r = http.post(f"{catalog}/v1/import", content=tree_lines(version, [lesson]), headers=ministry)
    assert r.status_code == 200, r.text
    reviewer = tokens.headers(f"u-ops-{uuid.uuid4().hex[:8]}", "catalog_reviewer@provider/pep", kind="teacher")
    exercise = {
        "external_id": f"ops-{uuid.uuid4().hex[:8]}",
        "provider_id": "pep",
        "content": {
            "item_type": "single_choice",
            "stem": "下列哪个正确？",
            "choices": [{"key": "A", "text": "对"}, {"key": "B", "text": "错"}],
            "answer_key": ["A"],
            "knowledge_points": ["分数的加法"],
            "difficulty": 2,
            "lesson_id": lesson,
        },
    }
    r = http.post(f"{catalog}/v1/exercises", json=exercise, headers=reviewer)
    assert r.status_code == 201, r.text
    eid = r.json()["id"]
    student = tokens.headers(f"u-ops-{uuid.uuid4().hex[:10]}", f"student@{SCHOOL}", kind="student")

    def answered(choice: str) -> Callable[[], bool]:
        def once() -> bool:  # 422 until the recommender has the exercise from the catalog's feed
            body = {"submission_id": uuid.uuid4().hex, "answers": [{"exercise_id": eid, "choices": [choice]}]}
            return http.post(f"{recommender}/v1/me/answers", json=body, headers=student).status_code == 200

        return once

    until(answered("A"), what="the recommender learning the exercise")
    assert answered("B")()

    pool = [published() for _ in range(3)]  # grade-5 maths lessons: the recommender's candidate pool
    asyncio.run(publish(*pool, source="/services/catalog"))
    ids = [e.resource.id for e in pool]
    beacons = [
        {"event_id": str(uuid.uuid4()), "resource_id": rid, "section": "course_teaching", "visitor_id": f"ops-{v}"}
        for rid in ids
        for v in range(2)
    ]
    assert http.post(f"{collector}/v1/views", json=beacons).status_code == 202
    teacher = tokens.headers(f"u-ops-{uuid.uuid4().hex[:10]}", "teacher", kind="teacher")
    beat = {"event_id": str(uuid.uuid4()), "resource_id": ids[0], "seconds": 60}
    assert http.post(f"{collector}/v1/heartbeats", json=beat, headers=teacher).status_code == 202
    profile = {"grade": 5, "province": "43", "subjects": ["math"]}
    assert http.put(f"{recommender}/v1/me/profile", json=profile, headers=student).status_code == 200

    def served() -> bool:
        mine = http.get(f"{recommender}/v1/me/recommendations", headers=student).json()["items"]
        popular = http.get(f"{recommender}/v1/popular", params={"grade": 5, "limit": 50}).json()["items"]
        http.get(f"{recommender}/v1/resources/{ids[0]}/similar")
        return bool(mine) and bool(popular)

    until(served, what="recommendations and popular resources served")
