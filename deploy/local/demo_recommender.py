"""The recommender part of the demo (deploy/local/demo.py), through the public APIs: exercises (习题) published in
the catalog on three grade-7 math knowledge points of the demo textbook (人教版 初中数学), the class groups demo's
students with a learning profile and a homework of answers (some wrong, so their notebooks, mastery, reviews and
recommendations show something), and the head teacher's profile (their class's most-missed knowledge points come
from the class groups demo's roster). Idempotent: exercise ids come from fixed external ids (a second publish is a
409 with the same id), submissions have fixed ids (a retry is answered with the stored grading), profiles are set.

Usable alone against running services (after the class groups demo):
``python deploy/local/demo_recommender.py --admin-token TOKEN``.
"""

from __future__ import annotations

import argparse
import sys

import httpx
from demo_classgroups import (
    DOMAIN,
    PASSWORD,
    TEACHER_NAME,
    Accounts,
    log,
    until,
)  # this directory: demo.py runs as a script

VERSION = "tv.pep.junior.math"  # 人教版 初中数学 of the generated demo catalog
# knowledge point → lessons of the demo tree it belongs to (the catalog's resources carry the same points)
POINTS = {
    "平面直角坐标系": [f"{VERSION}/v1/u1/l1", f"{VERSION}/v1/u1/l2"],
    "二元一次方程组": [f"{VERSION}/v1/u2/l1", f"{VERSION}/v1/u2/l1"],
    "不等式与不等式组": [f"{VERSION}/v1/u3/l1", f"{VERSION}/v1/u3/l2"],
}
STUDENTS = 10  # demo-student-00 … 09 of the class groups demo
PROFILE = {"grade": 7, "textbook_versions": [VERSION], "subjects": ["math"], "province": "43"}


__all__ = ["PASSWORD", "load"]


def exercises(catalog: httpx.Client, admin: dict[str, str]) -> dict[str, list[str]]:
    """Four exercises per knowledge point, difficulty 1 to 4; the answer key is always A (a demo)."""
    ids: dict[str, list[str]] = {}
    for n, (kp, lessons) in enumerate(POINTS.items()):
        for difficulty in range(1, 5):
            body = {
                "external_id": f"demo-ex-{n}-{difficulty}",
                "provider_id": "pep",
                "content": {
                    "item_type": "single_choice",
                    "stem": f"【{kp}】第{difficulty}题：下列说法正确的是？",
                    "choices": [{"key": "A", "text": "正确的说法"}, {"key": "B", "text": "常见的错误"}],
                    "answer_key": ["A"],
                    "explanation": f"解析：回顾{kp}的定义。",
                    "knowledge_points": [kp],
                    "difficulty": difficulty,
                    "lesson_id": lessons[difficulty % 2],
                },
            }
            r = catalog.post("/v1/exercises", json=body, headers=admin)
            if r.status_code not in (201, 409):
                raise RuntimeError(f"recommender demo: exercise {body['external_id']}: {r.status_code} {r.text[:300]}")
            ids.setdefault(kp, []).append(r.json()["id"] if r.status_code == 201 else r.json()["exercise_id"])
    return ids


def choice(student: int, point: int, difficulty: int) -> str:
    """Who gets what wrong (fixed, so the demo looks the same every time): 坐标系 is hard for half the class,
    方程组 for every third student, everybody misses the harder 不等式 items."""
    wrong = (point == 0 and student % 2 == 0) or (point == 1 and student % 3 == 0) or (point == 2 and difficulty >= 3)
    return "B" if wrong else "A"


def load(identity_url: str, catalog_url: str, recommender_url: str, admin_token: str) -> None:
    admin = {"Authorization": f"Bearer {admin_token}"}
    with (
        httpx.Client(base_url=identity_url, timeout=60) as identity,
        httpx.Client(base_url=catalog_url, timeout=60) as catalog,
        httpx.Client(base_url=recommender_url, timeout=60) as rec,
    ):
        ids = exercises(catalog, admin)
        people = Accounts(identity, admin)
        wrong = 0
        for i in range(STUDENTS):
            _, headers = people.get(f"demo-student-{i:02d}", "student", f"学生{i:02d}")
            rec.put("/v1/me/profile", json=PROFILE, headers=headers).raise_for_status()
            first = i % 2  # even students get difficulties 1-3, odd ones 2-4
            answers = [
                {"exercise_id": eid, "choices": [choice(i, n, d)]}
                for n, kp in enumerate(POINTS)
                for d, eid in enumerate(ids[kp][first : first + 3], start=1 + first)
            ]
            body = {"submission_id": f"demo-homework-{i:02d}", "answers": answers}
            # the recommender learns the exercises from the catalog's topic: it refuses them until it knows them
            r = until(lambda b=body, h=headers: rec.post("/v1/me/answers", json=b, headers=h), _graded, "answers")
            wrong += sum(not x["correct"] for x in r.json()["results"])
        _, head = people.get("demo-head-teacher", "teacher", TEACHER_NAME)
        rec.put("/v1/me/profile", json={"grades": [7], "subjects": ["math"], "province": "43"}, headers=head)
        log(
            f"recommender: {sum(len(v) for v in ids.values())} exercises on {len(POINTS)} knowledge points, "
            f"{STUDENTS} students answered ({wrong} wrong), see demo-student-00@{DOMAIN}'s notebook"
        )


def _graded(r: httpx.Response) -> bool:
    return r.status_code == 200


def main() -> int:
    p = argparse.ArgumentParser(prog="deploy/local/demo_recommender.py")
    p.add_argument("--identity", default="http://127.0.0.1:8102")
    p.add_argument("--catalog", default="http://127.0.0.1:8101")
    p.add_argument("--recommender", default="http://127.0.0.1:8104")
    p.add_argument("--admin-token", required=True)
    a = p.parse_args()
    load(a.identity, a.catalog, a.recommender, a.admin_token)
    return 0


if __name__ == "__main__":
    sys.exit(main())
