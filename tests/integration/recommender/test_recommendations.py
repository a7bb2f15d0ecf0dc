"""Recommendations through the public API on the real Kafka and store: the catalog's feed, views and heartbeats
as the collector publishes them, answers. A finished lesson never comes back, a withdrawn resource neither."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from common.contracts.base import Event
from common.contracts.viewstats import HeartbeatRecorded, ViewRecorded
from tests.integration.common.helpers import eventually
from tests.integration.recommender.conftest import lesson_place, publish_resource

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
async def collector(publish_as):
    """Publishes viewstats' events as the collector does."""

    async def send(*events: Event) -> None:
        await publish_as("/services/viewstats-collector", *events)

    return send


def view(user: str, rid: str, province: str = "43") -> ViewRecorded:
    return ViewRecorded(
        resource_id=rid,
        section="course_teaching",
        visitor_id=user,
        province=province,
        country="CN",
        client="web",
        viewed_at=datetime.now(UTC),
    )


def watched(user: str, rid: str, seconds: int) -> list[HeartbeatRecorded]:
    beats = []
    while seconds > 0:
        beats.append(HeartbeatRecorded(user_id=user, resource_id=rid, seconds=min(300, seconds), at=datetime.now(UTC)))
        seconds -= 300
    return beats


async def recommendations(platform, headers, limit: int = 20) -> list[dict]:
    r = await platform.rec.get("/v1/me/recommendations", params={"limit": limit}, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()["items"]


async def pooled(platform, *rids: str) -> None:
    async def check() -> bool:
        found = [(await platform.rec.get(f"/v1/candidates/{r}")).status_code for r in rids]
        return found == [200] * len(rids)

    await eventually(check, timeout=60)


@pytest.fixture(scope="module")
async def textbook(platform):
    """Two resources in each of the three lessons, a remedial resource, a training course."""
    lessons: dict[int, list[str]] = {}
    for i in range(3):
        lessons[i] = [
            await publish_resource(platform, f"第{i + 1}课时 资源{k}", lesson=lesson_place(platform, i, k))
            for k in range(2)
        ]
    course = await publish_resource(
        platform,
        "作业设计研修",
        section="teacher_training",
        column="assignment_design",
        stages=[],
        grades=[],
        subjects=[],
        credit_hours=2,
    )
    await pooled(platform, *[r for rs in lessons.values() for r in rs], course)
    return lessons, course


async def test_a_new_student_starts_at_the_first_lesson_and_a_finished_lesson_never_comes_back(
    platform, textbook, collector
) -> None:
    lessons, _ = textbook
    student, headers = platform.student()
    r = await platform.rec.put(
        "/v1/me/profile",
        json={"grade": 5, "textbook_versions": [platform.version], "province": "43", "subjects": ["math"]},
        headers=headers,
    )
    assert r.status_code == 200, r.text
    first = await recommendations(platform, headers)
    assert [i["resource_id"] for i in first[:2]] == lessons[0]
    assert first[0]["reason_code"] == "next_lesson" and first[0]["reason"].startswith("下一课时")

    await collector(*[view(student, r) for r in lessons[0]], *[b for r in lessons[0] for b in watched(student, r, 600)])

    async def moved_on() -> bool:
        ids = [i["resource_id"] for i in await recommendations(platform, headers)]
        return ids[:2] == lessons[1] and not set(lessons[0]) & set(ids)

    await eventually(moved_on, timeout=30, every=0.1)
    for _ in range(3):
        ids = {i["resource_id"] for i in await recommendations(platform, headers, limit=50)}
        assert not set(lessons[0]) & ids


async def test_a_withdrawn_resource_leaves_the_recommendations(platform, textbook) -> None:
    lessons, _ = textbook
    _, headers = platform.student()
    await platform.rec.put(
        "/v1/me/profile", json={"grade": 5, "textbook_versions": [platform.version]}, headers=headers
    )
    gone = lessons[0][1]
    assert gone in [i["resource_id"] for i in await recommendations(platform, headers)]
    r = await platform.catalog.post(
        f"/v1/resources/{gone}/withdraw", json={"reason": "版权到期"}, headers=platform.ministry
    )
    assert r.status_code == 200, r.text

    async def left() -> bool:
        return gone not in [i["resource_id"] for i in await recommendations(platform, headers, limit=50)]

    await eventually(left, timeout=30, every=0.2)
    assert (await platform.rec.get(f"/v1/resources/{gone}/similar")).status_code == 404


async def test_a_weak_point_brings_its_remedial_resource_with_the_reason(platform, textbook) -> None:
    kp = f"异分母分数加法-{platform.run}"
    remedial = await publish_resource(
        platform, "异分母分数加法 微课", knowledge_points=[kp], lesson=lesson_place(platform, 2, 5)
    )
    eid = await platform.exercise(kp)
    await platform.known(eid)
    await pooled(platform, remedial)
    _, headers = platform.student()
    body = {"submission_id": uuid.uuid4().hex, "answers": [{"exercise_id": eid, "choices": ["B"]}]}
    assert (await platform.rec.post("/v1/me/answers", json=body, headers=headers)).status_code == 200
    items = {i["resource_id"]: i for i in await recommendations(platform, headers)}
    assert items[remedial]["reason"] == f"weak point: {kp}"


async def test_popular_by_province_grade_and_subject_and_similar_resources(platform, textbook, collector) -> None:
    lessons, _ = textbook
    hot = lessons[2][0]
    await collector(
        *(view(f"anon:{uuid.uuid4().hex}", hot, "44") for _ in range(5)),
        *(view(f"u-{k}", lessons[2][1], "44") for k in range(3)),
    )

    async def ranked() -> bool:
        r = await platform.rec.get("/v1/popular", params={"province": "44", "grade": 5, "subject": "math", "limit": 50})
        # the topics are shared with earlier runs: rank among this run's resources
        return [i["resource_id"] for i in r.json()["items"] if i["resource_id"] in lessons[2]] == [hot, lessons[2][1]]

    await eventually(ranked, timeout=30, every=0.2)
    r = await platform.rec.get("/v1/popular", params={"province": "44", "grade": 3})
    assert hot not in [i["resource_id"] for i in r.json()["items"]]
    r = await platform.rec.get("/v1/popular", params={"province": "x"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "query.province"
    similar = (await platform.rec.get(f"/v1/resources/{hot}/similar")).json()["items"]
    assert similar[0]["resource_id"] == lessons[2][1] and similar[0]["reason_code"] == "same_lesson"


async def test_a_teacher_gets_materials_and_training_until_the_course_is_finished(platform, textbook, collector):
    _, course = textbook
    teacher, headers = platform.teacher()
    await platform.rec.put("/v1/me/profile", json={"grades": [5], "subjects": ["math"]}, headers=headers)
    items = {i["resource_id"]: i for i in await recommendations(platform, headers)}
    assert items[course]["reason_code"] == "training" and "360" in items[course]["reason"]
    assert any(i["reason_code"] == "teaching_material" for i in items.values())
    await collector(*watched(teacher, course, 600))

    async def done() -> bool:
        return course not in [i["resource_id"] for i in await recommendations(platform, headers, limit=50)]

    await eventually(done, timeout=30, every=0.2)
