"""The class groups part of the demo (deploy/local/demo.py): a demo school's administrative class with its roster,
head teacher and a subject teacher, an announcement with read receipts, a leave request, evaluations, and an
online class with a join code; all through the public APIs, accounts through identity (whose events class groups
follows, so each class-groups step waits until it knows the accounts). Skipped when the class already exists.

Usable alone against running services: ``python deploy/local/demo_classgroups.py --identity URL --classgroups URL``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta

import httpx

from common.reference import BEIJING

SCHOOL = "cn/43/4301/430102/school-430102001"  # 芙蓉区 demo school of identity's seed
CLASS_NAME = "2026级3班"
TEACHER_NID, TEACHER_NAME = "11010519491231002X", "李明"  # listed by the fake national teacher registry
STUDENTS = 30
PASSWORD = "Zhihui-Jiaoyu-2026"  # demo accounts only
DOMAIN = "demo-school.example.cn"


def log(message: str) -> None:
    print(f"  {message}", flush=True)


def until(attempt: Callable[[], httpx.Response], ok: Callable[[httpx.Response], bool], what: str) -> httpx.Response:
    """Retry while class groups has not yet learned the accounts from identity's events."""
    deadline = time.monotonic() + 120
    while True:
        r = attempt()
        if ok(r):
            return r
        if time.monotonic() > deadline:
            raise RuntimeError(f"class groups demo: {what}: {r.status_code} {r.text[:300]}")
        time.sleep(0.5)


class Accounts:
    def __init__(self, identity: httpx.Client, admin: dict[str, str]) -> None:
        self.http, self.admin = identity, admin

    def get(self, name: str, kind: str, real_name: str) -> tuple[str, dict[str, str]]:
        """The demo account ``name`` (registered on first use) and a bearer header of it."""
        email = f"{name}@{DOMAIN}"
        self.http.post(
            "/v1/accounts", json={"email": email, "password": PASSWORD, "real_name": real_name, "kind": kind}
        )
        r = self.http.post("/v1/sessions", json={"identifier": email, "password": PASSWORD})
        r.raise_for_status()
        headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
        return self.http.get("/v1/accounts/me", headers=headers).json()["user_id"], headers

    def grant(self, user_id: str, role: str, org: str) -> None:
        self.http.post("/v1/role-grants", json={"user_id": user_id, "role": role, "org": org}, headers=self.admin)


def load(identity_url: str, classgroups_url: str, admin_token: str) -> None:
    admin = {"Authorization": f"Bearer {admin_token}"}
    with (
        httpx.Client(base_url=identity_url, timeout=60) as identity,
        httpx.Client(base_url=classgroups_url, timeout=60) as cg,
    ):
        existing = cg.get("/v1/administrative-classes", params={"school": SCHOOL, "school_year": 2026}, headers=admin)
        if existing.status_code == 200 and any(c["name"] == CLASS_NAME for c in existing.json()):
            log(f"classgroups: {CLASS_NAME} already there")
            return
        people = Accounts(identity, admin)
        head_id, head = people.get("demo-head-teacher", "teacher", TEACHER_NAME)
        identity.post("/v1/teacher-verifications", json={"national_id": TEACHER_NID}, headers=head)
        head = people.get("demo-head-teacher", "teacher", TEACHER_NAME)[1]  # its token now holds teacher@school
        students = []
        for i in range(STUDENTS):
            sid, _ = people.get(f"demo-student-{i:02d}", "student", f"学生{i:02d}")
            people.grant(sid, "student", SCHOOL)
            students.append(sid)
        first_id, first = people.get("demo-student-00", "student", "学生00")
        parent_id, parent = people.get("demo-parent", "parent", "家长")
        identity.post("/v1/guardian-links", json={"child_id": first_id}, headers=parent)
        identity.post(f"/v1/guardian-links/{first_id}/{parent_id}/approve", headers=admin)

        body = {"school": SCHOOL, "school_year": 2026, "grade": 7, "name": CLASS_NAME}
        cid = cg.post("/v1/administrative-classes", json=body, headers=admin).json()["id"]
        lines = "account_id\n" + "\n".join(students) + "\n"
        until(
            lambda: cg.post(f"/v1/classes/{cid}/roster", content=lines, headers={**admin, "Content-Type": "text/csv"}),
            lambda r: r.status_code == 200 and r.json()["added"] + r.json()["already"] == STUDENTS,
            "roster",
        )
        teachers = {"head_teacher_id": head_id, "subject_teachers": [{"teacher_id": head_id, "subject": "math"}]}
        until(
            lambda: cg.put(f"/v1/classes/{cid}/teachers", json=teachers, headers=admin),
            lambda r: r.is_success,
            "teachers",
        )
        notice = {"title": "家长会通知", "body": "本周五下午三点在教室召开家长会，请家长准时参加。"}
        ann = cg.post(f"/v1/classes/{cid}/announcements", json=notice, headers=head).json()["id"]
        until(
            lambda: cg.post(f"/v1/classes/{cid}/announcements/{ann}/read", headers=parent),
            lambda r: r.is_success,
            "the parent's link",
        )
        cg.post(f"/v1/classes/{cid}/announcements/{ann}/read", headers=first)
        tomorrow = (datetime.now(BEIJING) + timedelta(days=1)).date().isoformat()
        leave = {"student_id": first_id, "kind": "sick", "first_day": tomorrow, "last_day": tomorrow, "reason": "感冒"}
        lid = cg.post(f"/v1/classes/{cid}/leaves", json=leave, headers=parent).json()["id"]
        cg.post(f"/v1/classes/{cid}/leaves/{lid}/approve", json={"note": "注意休息"}, headers=head)
        for dimension, points, comment in [
            ("labour", 3, "值日认真"),
            ("moral", 2, "乐于助人"),
            ("physical", 4, "跳绳进步大"),
        ]:
            body = {"student_id": first_id, "dimension": dimension, "points": points, "comment": comment}
            cg.post(f"/v1/classes/{cid}/evaluations", json=body, headers=head)
        online = cg.post("/v1/online-classes", json={"name": "暑期阅读打卡班"}, headers=head).json()["id"]
        code = cg.post(f"/v1/classes/{online}/codes", json={}, headers=head).json()["code"]
        log(
            f"classgroups: {CLASS_NAME} ({cid}) with {STUDENTS} students, head teacher demo-head-teacher@{DOMAIN}, "
            f"parent demo-parent@{DOMAIN}; online class {online}, join code {code}"
        )


def main() -> int:
    p = argparse.ArgumentParser(prog="deploy/local/demo_classgroups.py")
    p.add_argument("--identity", default="http://127.0.0.1:8102")
    p.add_argument("--classgroups", default="http://127.0.0.1:8105")
    p.add_argument("--admin-token", required=True)
    a = p.parse_args()
    load(a.identity, a.classgroups, a.admin_token)
    return 0


if __name__ == "__main__":
    sys.exit(main())
