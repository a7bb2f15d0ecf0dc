"""Check-ins through the public API on real Kafka, FerretDB and the object store (SeaweedFS locally and in CI):
presigned uploads of real JPEG and MP4 bytes with a real HTTP client, submissions checked against the stored
objects, reviews, redo, late and closed days, streaks, the leaderboard, labour stars awarded once, and the
inside/outside access rules."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, time, timedelta

import httpx
import pytest
from pymongo import AsyncMongoClient

from classgroups.domain.checkins import Period
from classgroups.store import CheckinStore
from common.contracts.classgroups import CHECKINS_TOPIC
from common.reference import BEIJING
from tests.integration.classgroups.conftest import OTHER_SCHOOL, SCHOOL, Events, Finds, Running, topic_events
from tests.integration.classgroups.media_samples import jpeg, mp4

pytestmark = pytest.mark.integration
ADMIN = f"school_admin@{SCHOOL}"


@pytest.fixture(scope="module")
async def checkin_events() -> AsyncIterator[Events]:
    async with topic_events(CHECKINS_TOPIC) as seen:
        yield seen


class School:
    """Class A of SCHOOL (a head teacher, two students, the second one's parent) and class B of another school."""

    def __init__(self, cg: Running) -> None:
        self.cg = cg

    async def build(self) -> School:
        cg = self.cg
        self.admin = await cg.account("teacher", ADMIN)
        self.teacher = await cg.account("teacher", verified_school=SCHOOL)
        self.s1 = await cg.account("student", f"student@{SCHOOL}")
        self.s2 = await cg.account("student", f"student@{SCHOOL}")
        self.parent = await cg.account("parent")
        await cg.link(self.s2, self.parent)
        self.a = await self._class(SCHOOL, self.admin, ADMIN, [self.s1, self.s2], self.teacher)
        other_admin = await cg.account("teacher", f"school_admin@{OTHER_SCHOOL}")
        self.other_teacher = await cg.account("teacher", verified_school=OTHER_SCHOOL)
        self.other_student = await cg.account("student", f"student@{OTHER_SCHOOL}")
        self.b = await self._class(
            OTHER_SCHOOL, other_admin, f"school_admin@{OTHER_SCHOOL}", [self.other_student], self.other_teacher
        )
        return self

    async def _class(self, school: str, admin: str, role: str, students: list[str], head: str) -> str:
        cg = self.cg
        body = {"school": school, "school_year": 2026, "grade": 4, "name": "2026级1班"}
        r = await cg.client.post("/v1/administrative-classes", json=body, headers=cg.as_(admin, role))
        assert r.status_code == 201, r.text
        cid = r.json()["id"]
        lines = "\n".join(f'{{"account_id": "{s}"}}' for s in students).encode()
        headers = {**cg.as_(admin, role), "Content-Type": "application/x-ndjson"}
        r = await cg.client.post(f"/v1/classes/{cid}/roster", content=lines, headers=headers)
        assert r.status_code == 200 and r.json()["added"] == len(students), r.text
        r = await cg.client.put(
            f"/v1/classes/{cid}/teachers", json={"head_teacher_id": head}, headers=cg.as_(admin, role)
        )
        assert r.status_code == 200, r.text
        return cid


def today() -> date:
    return datetime.now(UTC).astimezone(BEIJING).date()


def task_body(**kw) -> dict:
    body = {
        "title": "家务劳动打卡",
        "instructions": "每天做一件家务，拍一张照片。",
        "schedule": {"kind": "daily", "starts_on": str(today() - timedelta(5)), "ends_on": str(today() + timedelta(9))},
        "evidence": {"text": True, "photos": 1, "video": False},
        "late_days": 2,
        "labour": True,
        "resource_id": "res-labour-001",
    }
    return body | kw


async def upload(
    cg: Running,
    headers: dict,
    class_id: str,
    task_id: str,
    data: bytes,
    kind: str,
    ctype: str,
    student: str | None = None,
    send_type: str | None = None,
) -> tuple[str, httpx.Response]:
    """Ask for a presigned POST and upload ``data`` with a real HTTP client straight to the object store."""
    body = {"kind": kind, "content_type": ctype, "size": len(data)} | ({"student_id": student} if student else {})
    r = await cg.client.post(f"/v1/classes/{class_id}/checkin-tasks/{task_id}/uploads", json=body, headers=headers)
    assert r.status_code == 201, r.text
    form = dict(r.json()["fields"])
    if send_type:
        form["Content-Type"] = send_type
    async with httpx.AsyncClient(timeout=30) as s3:
        done = await s3.post(r.json()["url"], data=form, files={"file": ("x", data, form["Content-Type"])})
    return r.json()["key"], done


@pytest.fixture(scope="module")
async def school(classgroups: Running) -> School:
    return await School(classgroups).build()


async def test_task_upload_submit_review(classgroups: Running, school: School, checkin_events: Events) -> None:
    cg, s = classgroups, school
    teacher, s1 = cg.as_(s.teacher), cg.as_(s.s1, f"student@{SCHOOL}")
    r = await cg.client.post(f"/v1/classes/{s.a}/checkin-tasks", json=task_body(), headers=teacher)
    assert r.status_code == 201, r.text
    task = r.json()["task_id"]
    created = await checkin_events.wait_for(
        "cn.smartedu.classgroups.checkin-task.created.v1", lambda e: e["task_id"] == task
    )
    assert created["class_id"] == s.a and created["labour"] is True and "title" not in created
    base = f"/v1/classes/{s.a}/checkin-tasks/{task}"

    # a student may not set tasks; a teacher of another school's class does not learn this class exists
    assert (await cg.client.post(f"/v1/classes/{s.a}/checkin-tasks", json=task_body(), headers=s1)).status_code == 403
    r = await cg.client.get(f"/v1/classes/{s.a}/checkin-tasks", headers=cg.as_(s.other_teacher))
    assert r.status_code == 404
    r = await cg.client.post(f"/v1/classes/{s.b}/checkin-tasks", json=task_body(), headers=teacher)
    assert r.status_code == 404

    # the student uploads a real JPEG straight to the object store and checks in for today
    photo = jpeg()
    key, stored = await upload(cg, s1, s.a, task, photo, "photo", "image/jpeg")
    assert stored.status_code in (200, 201, 204), stored.text
    body = {
        "day": str(today()),
        "text": "我洗了碗。",
        "media": [{"key": key, "kind": "photo", "content_type": "image/jpeg"}],
    }
    r = await cg.client.post(f"{base}/submissions", json=body, headers=s1)
    assert r.status_code == 201, r.text
    sub1 = r.json()
    assert sub1["timeliness"] == "on_time" and sub1["media"][0]["size"] == len(photo)
    event = await checkin_events.wait_for(
        "cn.smartedu.classgroups.checkin.submitted.v1", lambda e: e["submission_id"] == sub1["submission_id"]
    )
    assert event["media"][0]["key"] == key and "text" not in event and "http" not in str(event)
    # twice the same day: refused
    r = await cg.client.post(f"{base}/submissions", json=body, headers=s1)
    assert r.status_code == 409 and r.json()["code"] == "already_submitted"

    # the parent checks in for the younger child: a photo and a real MP4
    parent = cg.as_(s.parent, kind="parent")
    pkey, _ = await upload(cg, parent, s.a, task, jpeg(colour=(10, 200, 10)), "photo", "image/jpeg", student=s.s2)
    vkey, stored = await upload(cg, parent, s.a, task, mp4(), "video", "video/mp4", student=s.s2)
    assert stored.status_code in (200, 201, 204), stored.text
    media = [
        {"key": pkey, "kind": "photo", "content_type": "image/jpeg"},
        {"key": vkey, "kind": "video", "content_type": "video/mp4"},
    ]
    yesterday = today() - timedelta(1)
    r = await cg.client.post(
        f"{base}/submissions",
        json={"student_id": s.s2, "day": str(yesterday), "text": "扫地", "media": media},
        headers=parent,
    )
    assert r.status_code == 201, r.text
    sub2 = r.json()
    assert sub2["submitted_by"] == s.parent and sub2["student_id"] == s.s2 and sub2["timeliness"] == "late"

    # the teacher sees both, with short-lived links to the media; each student (and the parent) only their own
    r = await cg.client.get(f"{base}/submissions", headers=teacher)
    assert {x["student_id"] for x in r.json()} == {s.s1, s.s2}
    async with httpx.AsyncClient(timeout=30) as s3:
        got = await s3.get(next(x for x in r.json() if x["student_id"] == s.s1)["media"][0]["url"])
    assert got.status_code == 200 and got.content == photo
    r = await cg.client.get(f"{base}/submissions", headers=s1)
    assert [x["student_id"] for x in r.json()] == [s.s1]
    assert (await cg.client.get(f"{base}/submissions?student_id={s.s2}", headers=s1)).status_code == 403
    r = await cg.client.get(f"{base}/submissions", headers=parent)
    assert [x["student_id"] for x in r.json()] == [s.s2]

    # reviews: a like (twice is once), excellent for one, a redo for the other
    url1 = f"{base}/submissions/{sub1['submission_id']}/reviews"
    for _ in range(2):
        assert (await cg.client.post(url1, json={"action": "like"}, headers=teacher)).status_code == 201
    r = await cg.client.post(url1, json={"action": "excellent", "comment": "真棒！"}, headers=teacher)
    assert r.status_code == 201, r.text
    assert (await cg.client.post(url1, json={"action": "redo"}, headers=teacher)).status_code == 409
    assert (await cg.client.post(url1, json={"action": "like"}, headers=s1)).status_code == 403
    reviewed = await checkin_events.wait_for(
        "cn.smartedu.classgroups.checkin.reviewed.v1",
        lambda e: e["submission_id"] == sub1["submission_id"] and e["action"] == "excellent",
    )
    assert reviewed["reviewer_id"] == s.teacher and "comment" not in reviewed
    url2 = f"{base}/submissions/{sub2['submission_id']}/reviews"
    assert (
        await cg.client.post(url2, json={"action": "redo", "comment": "请重拍"}, headers=teacher)
    ).status_code == 201
    r = await cg.client.get(f"{base}/submissions?student_id={s.s1}", headers=teacher)
    assert r.json()[0]["likes"] == 1 and r.json()[0]["verdict"] == "excellent"

    # the redo is answered with a new version (the same media may be used again)
    redo = {"student_id": s.s2, "day": str(yesterday), "text": "重新扫地", "media": media}
    r = await cg.client.post(f"{base}/submissions", json=redo, headers=parent)
    assert r.status_code == 201 and r.json()["version"] == 2, r.text

    # progress and leaderboard: s1 has today, s2 yesterday; the days before are missed for both
    r = await cg.client.get(f"{base}/progress/{s.s1}", headers=s1)
    assert r.status_code == 200 and r.json()["current_streak"] == 1
    assert r.json()["days"][0]["state"] == "missed"
    assert (await cg.client.get(f"{base}/progress/{s.s2}", headers=s1)).status_code == 403
    r = await cg.client.get(f"{base}/leaderboard", headers=parent)
    assert r.status_code == 200 and {row["student_id"] for row in r.json()} == {s.s1, s.s2}


async def test_media_must_be_what_it_claims(classgroups: Running, school: School) -> None:
    cg, s = classgroups, school
    teacher, s1 = cg.as_(s.teacher), cg.as_(s.s1, f"student@{SCHOOL}")
    body = task_body(evidence={"text": False, "photos": 0, "video": True}, labour=False)
    r = await cg.client.post(f"/v1/classes/{s.a}/checkin-tasks", json=body, headers=teacher)
    task = r.json()["task_id"]
    base = f"/v1/classes/{s.a}/checkin-tasks/{task}"

    # the presigned policy pins the type and the size: the store itself refuses another type or a bigger file
    key, stored = await upload(cg, s1, s.a, task, mp4(), "video", "video/mp4", send_type="image/jpeg")
    assert stored.status_code in (400, 403), stored.text
    r = await cg.client.post(
        f"{base}/uploads", json={"kind": "photo", "content_type": "image/jpeg", "size": 20 * 1024 * 1024}, headers=s1
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "size"
    r = await cg.client.post(
        f"{base}/uploads", json={"kind": "video", "content_type": "application/x-msdownload", "size": 10}, headers=s1
    )
    assert r.status_code == 422 and r.json()["code"] == "media_type_refused"

    # a JPEG uploaded as "video/mp4" (the policy's type, so the store takes it) is refused on submission
    key, stored = await upload(cg, s1, s.a, task, jpeg(), "video", "video/mp4")
    assert stored.status_code in (200, 201, 204)
    claim = {"day": str(today()), "media": [{"key": key, "kind": "video", "content_type": "video/mp4"}]}
    r = await cg.client.post(f"{base}/submissions", json=claim, headers=s1)
    assert r.status_code == 422 and r.json()["code"] == "media_type_mismatch", r.text
    assert r.json()["errors"][0]["field"] == "media.0.content_type"

    # a key nothing was uploaded to, and another student's key
    missing = {"day": str(today()), "media": [{"key": key + "x", "kind": "video", "content_type": "video/mp4"}]}
    r = await cg.client.post(f"{base}/submissions", json=missing, headers=s1)
    assert r.status_code == 422 and r.json()["code"] == "media_missing"
    parent = cg.as_(s.parent, kind="parent")
    other, _ = await upload(cg, parent, s.a, task, mp4(), "video", "video/mp4", student=s.s2)
    foreign = {"day": str(today()), "media": [{"key": other, "kind": "video", "content_type": "video/mp4"}]}
    r = await cg.client.post(f"{base}/submissions", json=foreign, headers=s1)
    assert r.status_code == 422 and r.json()["code"] == "media_foreign"

    # evidence missing, field by field; a day not yet come; a day closed
    r = await cg.client.post(f"{base}/submissions", json={"day": str(today()), "media": []}, headers=s1)
    assert r.status_code == 422 and r.json()["errors"][0]["code"] == "video_required"
    good = {"key": other, "kind": "video", "content_type": "video/mp4"}
    r = await cg.client.post(
        f"{base}/submissions",
        json={"student_id": s.s2, "day": str(today() + timedelta(1)), "media": [good]},
        headers=parent,
    )
    assert r.status_code == 422 and r.json()["code"] == "day_in_future"
    r = await cg.client.post(
        f"{base}/submissions",
        json={"student_id": s.s2, "day": str(today() - timedelta(3)), "media": [good]},
        headers=parent,
    )
    assert r.status_code == 410 and r.json()["code"] == "day_closed"
    # a parent may not submit for a child that is not theirs
    r = await cg.client.post(
        f"{base}/submissions", json={"student_id": s.s1, "day": str(today()), "media": [good]}, headers=parent
    )
    assert r.status_code == 403


async def test_concurrent_submissions_of_one_day_make_one_checkin(
    classgroups: Running, school: School, checkin_events: Events
) -> None:
    """Submissions are written in groups (``common.group_insert``): twelve copies of one day's check-in sent at
    once, and twelve answers to one redo, each make exactly one version (one 201, one event), the others are
    refused as already checked in; other days sent at the same moment are all stored."""
    cg, s = classgroups, school
    teacher, s1 = cg.as_(s.teacher), cg.as_(s.s1, f"student@{SCHOOL}")
    body = task_body(evidence={"text": True, "photos": 0, "video": False})
    r = await cg.client.post(f"/v1/classes/{s.a}/checkin-tasks", json=body, headers=teacher)
    base = f"/v1/classes/{s.a}/checkin-tasks/{r.json()['task_id']}"
    days = [today() - timedelta(n) for n in range(3)]  # today and the two late days still open

    def send(day: date, text: str):
        return cg.client.post(f"{base}/submissions", json={"day": str(day), "text": text}, headers=s1)

    answers = await asyncio.gather(
        *(send(days[0], f"扫地 {n}") for n in range(12)), send(days[1], "扫地"), send(days[2], "扫地")
    )
    first, others = answers[:12], answers[12:]
    assert sorted(a.status_code for a in first) == [201] + [409] * 11, [a.text for a in first]
    assert all(a.json()["code"] == "already_submitted" for a in first if a.status_code == 409)
    assert [a.status_code for a in others] == [201, 201]
    won = next(a.json() for a in first if a.status_code == 201)
    r = await cg.client.get(f"{base}/submissions?student_id={s.s1}", headers=teacher)
    stored = {(x["day"], x["version"]): x["text"] for x in r.json()}
    assert stored == {(str(days[0]), 1): won["text"], (str(days[1]), 1): "扫地", (str(days[2]), 1): "扫地"}

    # a redo, answered twelve times at once: one version 2
    url = f"{base}/submissions/{won['submission_id']}/reviews"
    assert (await cg.client.post(url, json={"action": "redo"}, headers=teacher)).status_code == 201
    answers = await asyncio.gather(*(send(days[0], f"重做 {n}") for n in range(12)))
    assert sorted(a.status_code for a in answers) == [201] + [409] * 11
    redone = next(a.json() for a in answers if a.status_code == 201)
    assert redone["version"] == 2
    # the resubmission path finds the latest version by its ``_id`` (v1, v2, …): once answered, the redo is
    # spent; a second redo (of version 2) opens version 3
    assert (await send(days[0], "再交一次")).json()["code"] == "already_submitted"
    url = f"{base}/submissions/{redone['submission_id']}/reviews"
    assert (await cg.client.post(url, json={"action": "redo"}, headers=teacher)).status_code == 201
    third = await send(days[0], "第三版")
    assert third.status_code == 201 and third.json()["version"] == 3, third.text
    assert (await send(days[0], "第四版")).json()["code"] == "already_submitted"

    await cg.relayed()
    task = won["task_id"]
    published = Counter(
        e["submission_id"]
        for t, e in await checkin_events.drain()
        if t == "cn.smartedu.classgroups.checkin.submitted.v1" and e["task_id"] == task
    )
    assert published == {won["submission_id"]: 1, redone["submission_id"]: 1, third.json()["submission_id"]: 1} | {
        f"{task}:{s.s1}:{d}:v1": 1 for d in days[1:]
    }


async def test_labour_stars_are_awarded_once(classgroups: Running, school: School, checkin_events: Events) -> None:
    """Submissions of a past week are made through the service layer with the clock of that week; the award is
    asked through the API twice at once and by the periodic award of a second service instance: one award, one
    event."""
    cg, s = classgroups, school
    teacher = cg.as_(s.teacher)
    week = Period.containing("week", today() - timedelta(14))
    body = task_body(
        evidence={"text": True, "photos": 0, "video": False},
        schedule={"kind": "weekdays", "starts_on": str(week.first), "ends_on": str(week.last)},
        late_days=1,
    )
    r = await cg.client.post(f"/v1/classes/{s.a}/checkin-tasks", json=body, headers=teacher)
    task = r.json()["task_id"]
    service = cg.app.state.checkins
    caller1 = await cg.handlers.access.caller(_principal(s.s1, f"student@{SCHOOL}"))
    caller2 = await cg.handlers.access.caller(_principal(s.s2, f"student@{SCHOOL}"))
    for offset in range(5):  # s1 every weekday on time; s2 three days, late
        day = week.first + timedelta(offset)
        await service.submissions.submit(s.a, task, caller1, {"day": day, "text": "劳动"}, _at(day, 18))
        if offset < 3:
            await service.submissions.submit(
                s.a, task, caller2, {"day": day, "text": "劳动"}, _at(day + timedelta(1), 8)
            )

    url = f"/v1/classes/{s.a}/labour-stars/{week.label}"
    first, second = await asyncio.gather(cg.client.post(url, headers=teacher), cg.client.post(url, headers=teacher))
    assert first.status_code == second.status_code == 200, first.text
    assert first.json() == second.json()
    assert first.json()["stars"] == [{"student_id": s.s1, "points": 10}, {"student_id": s.s2, "points": 3}]
    await service.stars.award_due(datetime.now(UTC))  # the periodic award finds it done
    assert (await cg.client.post(url, headers=cg.as_(s.s1, f"student@{SCHOOL}"))).status_code == 403
    awarded = await checkin_events.wait_for(
        "cn.smartedu.classgroups.labour-stars.awarded.v1", lambda e: e["class_id"] == s.a and e["period"] == week.label
    )
    assert [x["student_id"] for x in awarded["stars"]] == [s.s1, s.s2]
    with pytest.raises(AssertionError):  # no second award event, however long we listen
        await checkin_events.wait_for(
            "cn.smartedu.classgroups.labour-stars.awarded.v1",
            lambda e: e["class_id"] == s.a and e["period"] == week.label and e is not awarded,
            timeout=3,
        )
    r = await cg.client.get(f"/v1/classes/{s.a}/labour-stars", headers=cg.as_(s.parent, kind="parent"))
    assert r.status_code == 200 and week.label in [a["period"] for a in r.json()]
    # the current week is not over: refused
    r = await cg.client.post(
        f"/v1/classes/{s.a}/labour-stars/{Period.containing('week', today()).label}", headers=teacher
    )
    assert r.status_code == 409 and r.json()["code"] == "period_not_over"


def _principal(sub: str, *roles: str):
    from common.auth import Principal, Role

    return Principal(subject=sub, roles=tuple(Role.parse(r) for r in roles), token_id="t", expires_at=datetime.now(UTC))


def _at(day: date, hour: int) -> datetime:
    return datetime.combine(day, time(hour), BEIJING).astimezone(UTC)


async def test_a_task_missed_by_concurrent_requests_is_read_once(
    classgroups: Running, school: School, mongodb_url: str
) -> None:
    """A replica reads a task it has not seen once, however many submissions ask for it at that moment (each read
    scans the tasks on FerretDB); a task not found is read again next time (another replica may create it)."""
    headers = classgroups.as_(school.teacher)
    r = await classgroups.client.post(f"/v1/classes/{school.a}/checkin-tasks", json=task_body(), headers=headers)
    assert r.status_code == 201, r.text
    task_id = r.json()["task_id"]
    running = classgroups.app.state.checkins.submissions.store
    finds = Finds()
    mongo = AsyncMongoClient(mongodb_url, event_listeners=[finds], tz_aware=True)
    try:
        replica = CheckinStore(mongo[running.db.name], running.outbox)  # another replica: nothing cached yet
        found = await asyncio.gather(*(replica.task(task_id) for _ in range(20)))
        assert {d["_id"] for d in found} == {task_id}
        assert finds.seen["checkin_tasks"] == 1
        assert await replica.task(task_id) is found[0]  # kept
        assert [await replica.task("t-none"), await replica.task("t-none")] == [None, None]
        assert finds.seen["checkin_tasks"] == 3
    finally:
        await mongo.close()
