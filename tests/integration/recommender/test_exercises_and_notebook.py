"""Exercises from the catalog to the recommender, answers graded, the mistake notebook, spaced reviews, a
teacher's figures: through the public APIs, on the real Kafka and store."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import orjson
import pytest
from aiokafka import AIOKafkaConsumer

from common.contracts.classgroups import ClassCreated, MemberJoined, MemberLeft, SubjectTeacher, TeachersAssigned
from common.messaging import decode, kafka_client_options
from recommender.domain.bkt import stored_model
from tests.integration.common.helpers import eventually
from tests.integration.recommender.conftest import OTHER_SCHOOL, SCHOOL

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


def sid() -> str:
    return uuid.uuid4().hex


async def answer(platform, headers, *pairs: tuple[str, str], submission: str | None = None):
    body = {"submission_id": submission or sid(), "answers": [{"exercise_id": e, "choices": [c]} for e, c in pairs]}
    return await platform.rec.post("/v1/me/answers", json=body, headers=headers)


async def notebook(platform, headers) -> dict:
    r = await platform.rec.get("/v1/me/notebook", headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


def points(book: dict) -> dict[str, dict]:
    return {p["knowledge_point"]: p for s in book["subjects"] for p in s["knowledge_points"]}


async def test_the_public_exercise_has_no_key_and_bad_items_are_refused_field_by_field(platform) -> None:
    eid = await platform.exercise(f"kp-{platform.run}-pub")
    r = await platform.catalog.get(f"/v1/exercises/{eid}")
    assert r.status_code == 200
    assert "answer_key" not in r.json() and "explanation" not in r.json() and r.json()["stem"]
    assert "对" in r.text and "A 正确" not in r.text
    bad = {
        "external_id": "x",
        "provider_id": "pep",
        "content": {
            "item_type": "single_choice",
            "stem": "?",
            "choices": [{"key": "A", "text": "a"}, {"key": "B", "text": "b"}],
            "answer_key": ["C"],
            "knowledge_points": ["k"],
            "difficulty": 3,
            "lesson_id": platform.lessons[0],
        },
    }
    r = await platform.catalog.post("/v1/exercises", json=bad, headers=platform.reviewer)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "content.answer_key"
    bad["content"] |= {"answer_key": ["A"], "lesson_id": "tv.none/l1", "difficulty": 9}
    r = await platform.catalog.post("/v1/exercises", json=bad, headers=platform.reviewer)
    assert r.status_code == 422 and {e["field"] for e in r.json()["errors"]} == {"body.content.difficulty"}
    bad["content"]["difficulty"] = 2
    r = await platform.catalog.post("/v1/exercises", json=bad, headers=platform.reviewer)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "content.lesson_id"
    other = platform.tokens.headers("u-r2", "catalog_reviewer@provider/bnup", kind="teacher")
    bad["content"]["lesson_id"] = platform.lessons[0]
    assert (await platform.catalog.post("/v1/exercises", json=bad, headers=other)).status_code == 403


async def test_a_wrong_answer_is_filed_similar_exercises_appear_and_spaced_right_answers_clear_it(platform) -> None:
    kp = f"分数的加法-{platform.run}"
    first = await platform.exercise(kp, difficulty=3)
    others = [await platform.exercise(kp, difficulty=d) for d in (1, 2, 4, 5)]
    unrelated = await platform.exercise(f"小数-{platform.run}", difficulty=1)
    await platform.known(first, *others, unrelated)
    _, headers = platform.student()

    r = await answer(platform, headers, (first, "B"))
    assert r.status_code == 200, r.text
    result = r.json()["results"][0]
    assert result["correct"] is False and result["answer_key"] == ["A"] and result["explanation"]

    book = await notebook(platform, headers)
    filed = points(book)[kp]
    assert book["subjects"][0]["subject"] == "math"
    assert filed["wrong_count"] == 1 and filed["last_wrong_at"]
    assert filed["mastery"] < stored_model().default.prior  # a wrong answer lowers the estimate
    assert [e["exercise"]["id"] for e in filed["exercises"]] == [first]
    assert "answer_key" not in filed["exercises"][0]["exercise"]  # not until answered right
    similar = [e["id"] for e in filed["similar_exercises"]]
    assert first not in similar and unrelated not in similar and set(similar) <= set(others) and similar
    assert filed["similar_exercises"][0]["difficulty"] <= 3  # low mastery: easier ones first

    # right answers on the reviews FSRS schedules: it leaves only after the spaced ones
    reviews = 0
    while kp in points(book):
        platform.clock.advance_to(datetime.fromisoformat(points(book)[kp]["next_review_at"]))
        r = await answer(platform, headers, (first, "A"))
        assert r.json()["results"][0]["correct"] is True
        reviews += 1
        book = await notebook(platform, headers)
        assert reviews < 8
    assert reviews >= 3
    assert book["mastery"][kp] > 0.9


async def test_a_right_answer_before_the_review_is_due_does_not_clear_the_notebook(platform) -> None:
    kp = f"通分-{platform.run}"
    eid = await platform.exercise(kp)
    await platform.known(eid)
    _, headers = platform.student()
    await answer(platform, headers, (eid, "B"))
    for _ in range(3):
        assert (await answer(platform, headers, (eid, "A"))).json()["results"][0]["correct"] is True
    assert kp in points(await notebook(platform, headers))


async def test_a_retried_submission_is_graded_once_and_a_reused_id_with_other_answers_is_refused(platform) -> None:
    kp = f"约分-{platform.run}"
    eids = [await platform.exercise(kp) for _ in range(2)]
    await platform.known(*eids)
    _, headers = platform.student()
    submission = sid()
    first = await answer(platform, headers, (eids[0], "B"), (eids[1], "A"), submission=submission)
    again = await answer(platform, headers, (eids[0], "B"), (eids[1], "A"), submission=submission)
    assert first.status_code == again.status_code == 200 and first.json() == again.json()
    assert points(await notebook(platform, headers))[kp]["wrong_count"] == 1
    other = await answer(platform, headers, (eids[0], "A"), (eids[1], "A"), submission=submission)
    assert other.status_code == 409 and other.json()["code"] == "submission-reused"


async def test_bad_answers_get_field_problems_and_store_nothing(platform) -> None:
    kp = f"倒数-{platform.run}"
    eid = await platform.exercise(kp)
    await platform.known(eid)
    _, headers = platform.student()
    body = {
        "submission_id": sid(),
        "answers": [{"exercise_id": eid, "choices": ["B"]}, {"exercise_id": "ex-none", "choices": ["A"]}],
    }
    r = await platform.rec.post("/v1/me/answers", json=body, headers=headers)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "answers.1.exercise_id"
    body["answers"][1] = {"exercise_id": eid, "text": "A", "choices": ["A"]}
    r = await platform.rec.post("/v1/me/answers", json=body, headers=headers)
    assert r.status_code == 422 and r.json()["errors"][0]["field"].startswith("body.answers.1")
    body["answers"] = [{"exercise_id": eid, "choices": ["Z"]}]
    r = await platform.rec.post("/v1/me/answers", json=body, headers=headers)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "answers.0"
    assert (await notebook(platform, headers))["subjects"] == []


async def test_only_students_answer_and_only_their_own_notebook_is_shown(platform) -> None:
    kp = f"分数乘法-{platform.run}"
    eid = await platform.exercise(kp)
    await platform.known(eid)
    _, alice = platform.student()
    _, bob = platform.student()
    _, teacher = platform.teacher()
    await answer(platform, alice, (eid, "B"))
    assert kp in points(await notebook(platform, alice))
    assert kp not in points(await notebook(platform, bob))
    assert (await answer(platform, teacher, (eid, "B"))).status_code == 403
    assert (await platform.rec.get("/v1/me/notebook", headers=teacher)).status_code == 403
    assert (await platform.rec.get("/v1/me/notebook")).status_code == 401


async def test_a_teacher_sees_the_most_missed_points_of_the_classes_they_teach_only(platform, publish_as) -> None:
    """Classes and memberships as class groups publishes them on classgroups.classes.v1: the teacher of class A
    never sees class B's figures, and a student who left A no longer counts in A's."""
    kp_hard, kp_easy = f"难点-{platform.run}", f"易点-{platform.run}"
    hard, easy = await platform.exercise(kp_hard), await platform.exercise(kp_easy)
    await platform.known(hard, easy)
    class_a, class_b = f"cls-a-{platform.run}", f"cls-b-{platform.run}"
    head, head_headers = platform.teacher()
    owner, owner_headers = platform.teacher()
    _, stranger_headers = platform.teacher()  # same school, teaches neither class
    in_a = [platform.student() for _ in range(4)]
    in_b = platform.student(school=OTHER_SCHOOL)
    for _, s in in_a[:3]:
        await answer(platform, s, (hard, "B"), (easy, "A"))
    await answer(platform, in_a[3][1], (easy, "B"))
    for _ in range(5):
        await answer(platform, in_b[1], (easy, "B"))
    at = datetime.now(UTC)
    joined = [MemberJoined(class_id=class_a, occurred_at=at, account_id=s, via="roster", by=head) for s, _ in in_a]
    await publish_as(
        "/services/classgroups",
        ClassCreated(
            class_id=class_a,
            occurred_at=at,
            kind="administrative",
            school=SCHOOL,
            school_year=2026,
            grade=5,
            owner_id=None,
            created_by="u-admin",
        ),
        TeachersAssigned(
            class_id=class_a,
            occurred_at=at,
            head_teacher_id=head,
            subject_teachers=(SubjectTeacher(teacher_id=head, subject="math"),),
            assigned_by="u-admin",
        ),
        *joined,
        ClassCreated(
            class_id=class_b,
            occurred_at=at,
            kind="online",
            school=None,
            school_year=None,
            grade=None,
            owner_id=owner,
            created_by=owner,
        ),
        MemberJoined(class_id=class_b, occurred_at=at, account_id=in_b[0], via="code", by=in_b[0]),
    )

    async def figures(headers, **params) -> dict[str, dict]:
        r = await platform.rec.get("/v1/teachers/me/missed-knowledge-points", params=params, headers=headers)
        assert r.status_code == 200, r.text
        return {k["knowledge_point"]: k for k in r.json()["knowledge_points"]}

    async def a_counted() -> bool:  # the four joins may come in more than one batch
        ranked = await figures(head_headers)
        return kp_hard in ranked and kp_easy in ranked

    await eventually(a_counted, timeout=30, every=0.2)
    ranked = await figures(head_headers)
    assert ranked[kp_hard]["wrong_answers"] == 3 and ranked[kp_hard]["students_wrong"] == 3
    assert ranked[kp_easy]["wrong_answers"] == 1  # class B's five are not this teacher's
    assert (await figures(head_headers, class_id=class_a)) == ranked

    async def b_counted() -> bool:
        return kp_easy in await figures(owner_headers)

    await eventually(b_counted, timeout=30, every=0.2)
    assert (await figures(owner_headers))[kp_easy]["wrong_answers"] == 5
    assert kp_hard not in await figures(owner_headers)
    for headers, other in ((head_headers, class_b), (owner_headers, class_a), (stranger_headers, class_a)):
        r = await platform.rec.get(
            "/v1/teachers/me/missed-knowledge-points", params={"class_id": other}, headers=headers
        )
        assert r.status_code == 403 and r.json()["code"] == "not-your-class"
    assert await figures(stranger_headers) == {}

    left = MemberLeft(class_id=class_a, occurred_at=datetime.now(UTC), account_id=in_a[3][0], reason="removed", by=head)
    await publish_as("/services/classgroups", left)

    async def gone() -> bool:
        return kp_easy not in await figures(head_headers)

    await eventually(gone, timeout=30, every=0.2)
    _, student = platform.student()
    assert (await platform.rec.get("/v1/teachers/me/missed-knowledge-points", headers=student)).status_code == 403


async def test_graded_answers_and_mastery_changes_are_events_without_keys_or_responses(platform) -> None:
    kp = f"分数除法-{platform.run}"
    eid = await platform.exercise(kp)
    await platform.known(eid)
    student, headers = platform.student()
    consumer = AIOKafkaConsumer("recommender.learning.v1", **kafka_client_options(), auto_offset_reset="latest")
    await consumer.start()
    try:
        await eventually(lambda: _assigned(consumer), timeout=30)
        r = await answer(platform, headers, (eid, "B"))
        assert r.status_code == 200
        seen: list = []

        async def both() -> bool:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                for rec in records:
                    env = decode(rec)
                    if getattr(env.event, "student_id", None) == student:
                        seen.append((env, rec.value))
            return {e.type for e, _ in seen} >= {
                "cn.smartedu.recommender.answer.graded.v1",
                "cn.smartedu.recommender.mastery.changed.v1",
            }

        await eventually(both, timeout=30)
    finally:
        await consumer.stop()
    graded = next(e.event for e, _ in seen if e.type.endswith("answer.graded.v1"))
    assert graded.exercise_id == eid and graded.correct is False and graded.knowledge_points == [kp]
    for _, raw in seen:
        data = orjson.loads(raw)
        assert "answer_key" not in data and "choices" not in data and "对" not in raw.decode()


async def _assigned(consumer) -> bool:
    await consumer.getmany(timeout_ms=200)
    return bool(consumer.assignment())


async def test_a_withdrawn_exercise_is_no_longer_answered_or_offered(platform) -> None:
    kp = f"分数比较-{platform.run}"
    keep, gone = await platform.exercise(kp), await platform.exercise(kp)
    first = await platform.exercise(kp)
    await platform.known(keep, gone, first)
    r = await platform.catalog.post(
        f"/v1/exercises/{gone}/withdraw", json={"reason": "题目有误"}, headers=platform.reviewer
    )
    assert r.status_code == 200, r.text
    assert (await platform.catalog.get(f"/v1/exercises/{gone}")).status_code == 410

    async def withdrawn() -> bool:
        return not platform.app.state.bank.offered(gone)

    await eventually(withdrawn, timeout=60)
    _, headers = platform.student()
    assert (await answer(platform, headers, (gone, "A"))).status_code == 422
    await answer(platform, headers, (first, "B"))
    similar = [e["id"] for e in points(await notebook(platform, headers))[kp]["similar_exercises"]]
    assert keep in similar and gone not in similar
