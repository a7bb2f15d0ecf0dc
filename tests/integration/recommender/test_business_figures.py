"""The recommender's business figures rise by exactly what the public API did, under the right label, as a scrape
of ``/metrics`` reads them, and not on a refused request: answers graded (``recommender_answers_graded_total`` by
``result``; a client's retry of a submission is answered again but graded once, so counted once) and recommended
resources served (``recommender_recommendations_served_total`` by ``list``: the items of each page served)."""

from __future__ import annotations

import uuid

import pytest

from tests.integration.common.figures import Figure
from tests.integration.common.helpers import eventually
from tests.integration.recommender.test_recommendations import collector, textbook, view  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]
ANSWERS, SERVED = "recommender_answers_graded_total", "recommender_recommendations_served_total"


async def test_answers_are_counted_by_result_once_per_submission_and_refused_ones_are_not(platform) -> None:
    kp = f"分数的意义-{platform.run}"
    eids = [await platform.exercise(kp) for _ in range(3)]  # the key of each is A
    await platform.known(*eids)
    _, student = platform.student()
    answers = await Figure(platform.rec, ANSWERS).mark()
    assert set(await answers.values()) == {"correct", "wrong"}

    def body(*choices: str, submission: str | None = None) -> dict:
        pairs = zip(eids, choices, strict=False)
        return {
            "submission_id": submission or uuid.uuid4().hex,
            "answers": [{"exercise_id": e, "choices": [c]} for e, c in pairs],
        }

    homework = body("A", "B", "A")
    first = await platform.rec.post("/v1/me/answers", json=homework, headers=student)
    assert first.status_code == 200, first.text
    assert [x["correct"] for x in first.json()["results"]] == [True, False, True]
    r = await platform.rec.post("/v1/me/answers", json=body("B"), headers=student)
    assert r.status_code == 200 and r.json()["results"][0]["correct"] is False, r.text
    assert await answers.rise() == {"correct": 2, "wrong": 2}

    # the client's retry (the same id and answers, e.g. after a timeout) is answered with the stored grading: the
    # answers were graded once, and are counted once
    again = await platform.rec.post("/v1/me/answers", json=homework, headers=student)
    assert again.status_code == 200 and again.json() == first.json()
    _, teacher = platform.teacher()
    refused = [
        (body("B", "B", "B", submission=homework["submission_id"]), student, 409),  # the id reused, other answers
        ({"submission_id": uuid.uuid4().hex, "answers": [{"exercise_id": "ex-none", "choices": ["A"]}]}, student, 422),
        (body("Z"), student, 422),  # not a choice of the item
        ({"submission_id": "x", "answers": []}, student, 422),
        (body("A"), teacher, 403),  # only students answer
        (body("A"), {}, 401),
    ]
    for sent, headers, status in refused:
        r = await platform.rec.post("/v1/me/answers", json=sent, headers=headers)
        assert r.status_code == status, (sent, r.text)
    assert await answers.rise() == {"correct": 2, "wrong": 2}


async def test_recommendations_served_are_counted_per_list_by_the_items_served(platform, textbook, collector) -> None:  # noqa: F811
    lessons, _ = textbook
    _, student = platform.student()
    profile = {"grade": 5, "textbook_versions": [platform.version], "province": "43", "subjects": ["math"]}
    assert (await platform.rec.put("/v1/me/profile", json=profile, headers=student)).status_code == 200
    await collector(*(view(f"anon:{uuid.uuid4().hex}", lessons[1][0], "45") for _ in range(3)))
    popular = {"province": "45", "grade": 5, "subject": "math", "limit": 50}

    async def counted() -> bool:
        r = await platform.rec.get("/v1/popular", params=popular)
        return lessons[1][0] in [i["resource_id"] for i in r.json()["items"]]

    await eventually(counted, timeout=30)
    served = await Figure(platform.rec, SERVED).mark()
    assert set(await served.values()) == {"for_me", "similar", "popular"}

    pages = {
        "for_me": [
            await platform.rec.get("/v1/me/recommendations", params={"limit": n}, headers=student) for n in (2, 5)
        ],
        "similar": [await platform.rec.get(f"/v1/resources/{lessons[0][0]}/similar", params={"limit": 3})],
        "popular": [await platform.rec.get("/v1/popular", params=popular)],
    }
    items = {}
    for name, answered in pages.items():
        assert [r.status_code for r in answered] == [200] * len(answered), [r.text for r in answered]
        items[name] = sum(len(r.json()["items"]) for r in answered)
    assert items["for_me"] >= 3 and items["similar"] >= 1 and items["popular"] >= 1, items
    assert await served.rise() == items

    refused = [
        ("/v1/me/recommendations", {}, {}, 401),
        ("/v1/me/recommendations", {"limit": 0}, student, 422),
        ("/v1/popular", {"province": "x"}, {}, 422),
        (f"/v1/resources/{lessons[0][0]}/similar", {"limit": 51}, {}, 422),
    ]
    for url, params, headers, status in refused:
        r = await platform.rec.get(url, params=params, headers=headers)
        assert r.status_code == status, (url, r.text)
    assert await served.rise() == items
