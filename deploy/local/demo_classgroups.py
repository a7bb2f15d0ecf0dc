"""The class groups part of the demo (deploy/local/demo.py), one function per area, each skipped when its data is
already there (so a second `make run` changes nothing):

- :func:`school`: the demo school's administrative class 2026级3班 (30 students, a head teacher who is also its
  maths teacher, a parent), a notice with read receipts, a leave request, evaluations; and an online class
  (暑期阅读打卡班) that 5 students joined with its code;
- :func:`checkins`: a daily labour-education check-in task (家务劳动打卡, one photo a day) with a week and more of
  submissions carrying small real JPEGs generated here and uploaded to the object store with presigned POSTs, the
  head teacher's reviews (likes, comments, 优秀, a redo), streaks, and last week's labour stars (劳动之星) awarded;
  a reading check-in of the online class;
- :func:`courses`: after-school courses (课后服务) of the term with selections, a full course's waitlist, a refused
  time-slot conflict, and a drop that promotes the first of the waitlist;
- :func:`studios`: the hook for famous-teacher studios (名师工作室), filled in by that feature.

Everything goes through the public APIs, accounts through identity (whose events class groups follows, so each
class-groups step waits until it knows the accounts) — except the days before yesterday of the labour check-ins:
the API takes a check-in at most ``late_days`` after its day, and last week's stars need last week's days, so
those days are written as they would have been on the day (at 19:00 Beijing time) by the service's own handler,
in this process, on the service's database; their events go out through the outbox like any other (the running
service's relay sweep publishes them). Today's and yesterday's check-ins go through the API.

Usable alone against running services: ``python deploy/local/demo_classgroups.py --identity URL --classgroups URL``.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock

import httpx

from common.reference import BEIJING

SCHOOL = "cn/43/4301/430102/school-430102001"  # 芙蓉区 demo school of identity's seed
CLASS_NAME = "2026级3班"
TEACHER_NID, TEACHER_NAME = "11010519491231002X", "李明"  # listed by the fake national teacher registry
STUDENTS = 30
GRADE = 7
ONLINE_NAME, ONLINE_MEMBERS = "暑期阅读打卡班", 5
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


@dataclass
class DemoSchool:
    """What the areas share: the clients, the accounts (ids and bearer headers), the classes."""

    identity: httpx.Client
    cg: httpx.Client
    admin: dict[str, str]
    head_id: str
    head: dict[str, str]
    students: list[tuple[str, dict[str, str]]]
    parent_id: str
    parent: dict[str, str]
    class_id: str
    online_id: str


def school(identity: httpx.Client, cg: httpx.Client, admin: dict[str, str]) -> DemoSchool:
    """The administrative class, its roster, teachers, notice, leave, evaluations; the online class and its
    members. Accounts are registered (or logged in again) every time: the other areas need their tokens."""
    people = Accounts(identity, admin)
    head_id, head = people.get("demo-head-teacher", "teacher", TEACHER_NAME)
    students = [people.get(f"demo-student-{i:02d}", "student", f"学生{i:02d}") for i in range(STUDENTS)]
    parent_id, parent = people.get("demo-parent", "parent", "家长")
    existing = cg.get("/v1/administrative-classes", params={"school": SCHOOL, "school_year": 2026}, headers=admin)
    found = [c["id"] for c in existing.json() if c["name"] == CLASS_NAME] if existing.status_code == 200 else []
    if found:
        online = [c["id"] for c in cg.get("/v1/me/classes", headers=head).json() if c["kind"] == "online"]
        log(f"classgroups: {CLASS_NAME} already there")
        return DemoSchool(identity, cg, admin, head_id, head, students, parent_id, parent, found[0], online[0])

    identity.post("/v1/teacher-verifications", json={"national_id": TEACHER_NID}, headers=head)
    head = people.get("demo-head-teacher", "teacher", TEACHER_NAME)[1]  # its token now holds teacher@school
    for sid, _ in students:
        people.grant(sid, "student", SCHOOL)
    first_id, first = students[0]
    identity.post("/v1/guardian-links", json={"child_id": first_id}, headers=parent)
    identity.post(f"/v1/guardian-links/{first_id}/{parent_id}/approve", headers=admin)

    body = {"school": SCHOOL, "school_year": 2026, "grade": GRADE, "name": CLASS_NAME}
    cid = cg.post("/v1/administrative-classes", json=body, headers=admin).json()["id"]
    lines = "account_id\n" + "\n".join(sid for sid, _ in students) + "\n"
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
    online = cg.post("/v1/online-classes", json={"name": ONLINE_NAME}, headers=head).json()["id"]
    code = cg.post(f"/v1/classes/{online}/codes", json={}, headers=head).json()["code"]
    for _, h in students[:ONLINE_MEMBERS]:
        until(lambda h=h: cg.post("/v1/joins", json={"code": code}, headers=h), lambda r: r.is_success, "join")
    log(
        f"classgroups: {CLASS_NAME} ({cid}) with {STUDENTS} students, head teacher demo-head-teacher@{DOMAIN}, "
        f"parent demo-parent@{DOMAIN}; online class {online} ({ONLINE_MEMBERS} joined), join code {code}"
    )
    return DemoSchool(identity, cg, admin, head_id, head, students, parent_id, parent, cid, online)


# --- check-ins -------------------------------------------------------------------------------------------------
LABOUR_TASK, READING_TASK = "家务劳动打卡", "每日阅读打卡"
CHECKING_IN = 12  # students of the class who check in (the rest never do: the leaderboard shows both)


def photo(student: int, day: date) -> bytes:
    """A small real JPEG (Pillow): a coloured card with a broom-like figure, different per student and day."""
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (160, 120), ((40 + 17 * student) % 256, (90 + 11 * day.day) % 256, 150))
    draw = ImageDraw.Draw(img)
    draw.rectangle((10, 10, 150, 110), outline=(255, 255, 255), width=3)
    draw.line((40, 95, 110, 25), fill=(120, 70, 20), width=6)  # the handle
    draw.polygon([(25, 100), (60, 100), (50, 80), (35, 80)], fill=(230, 200, 60))  # the brush
    draw.text((100, 90), f"{day.month}/{day.day}", fill=(255, 255, 255))
    out = io.BytesIO()
    img.save(out, "JPEG", quality=70)
    return out.getvalue()


def skips(i: int, day: date) -> bool:
    """Who misses which day: a few students never miss, the others now and then (streaks differ)."""
    return i >= 4 and (day.toordinal() * 7 + i * 3) % (i + 1) == 0


def upload(cg: httpx.Client, who: dict[str, str], path: str, data: bytes) -> str:
    """Ask the service for a presigned POST and upload the JPEG straight to the object store."""
    body = {"kind": "photo", "content_type": "image/jpeg", "size": len(data)}
    r = cg.post(f"{path}/uploads", json=body, headers=who)
    r.raise_for_status()
    got = r.json()
    done = httpx.post(got["url"], data=got["fields"], files={"file": ("photo.jpg", data, "image/jpeg")}, timeout=60)
    if done.status_code not in (200, 201, 204):
        raise RuntimeError(f"class groups demo: upload refused: {done.status_code} {done.text[:300]}")
    return got["key"]


def checkins(demo: DemoSchool) -> None:
    """A daily labour check-in task from last week's Monday on, its days up to today, reviews, last week's
    stars; a reading check-in in the online class."""
    cg, cid = demo.cg, demo.class_id
    tasks = cg.get(f"/v1/classes/{cid}/checkin-tasks", headers=demo.head).json()
    if any(t["title"] == LABOUR_TASK for t in tasks):
        log("classgroups: check-ins already there")
        return
    today = datetime.now(BEIJING).date()
    monday = today - timedelta(days=today.weekday() + 7)  # last week's Monday
    task = daily(LABOUR_TASK, "每天做一件家务（扫地、洗碗、整理书桌……），拍一张照片，写一句话。", monday, 60, photos=1)
    task |= {"late_days": 1, "labour": True, "resource_id": "demo-labour-lesson"}
    r = cg.post(f"/v1/classes/{cid}/checkin-tasks", json=task, headers=demo.head)
    r.raise_for_status()
    task_id = r.json()["task_id"]
    path = f"/v1/classes/{cid}/checkin-tasks/{task_id}"
    days = [monday + timedelta(days=d) for d in range((today - monday).days + 1)]
    earlier = []  # (student index, day, media key): written as on the day, by the service's handler
    submitted = {}
    for i, (sid, who) in enumerate(demo.students[:CHECKING_IN]):
        for day in days:
            if skips(i, day):
                continue
            key = upload(cg, who, path, photo(i, day))
            media = [{"key": key, "kind": "photo", "content_type": "image/jpeg"}]
            if (today - day).days > 1:
                earlier.append((sid, day, media))
                continue
            body = {"day": str(day), "text": "今天我扫了地，还洗了碗。", "media": media}
            r = cg.post(f"{path}/submissions", json=body, headers=who)
            r.raise_for_status()
            submitted[(i, day)] = r.json()["submission_id"]
    asyncio.run(_as_on_the_day(cid, task_id, earlier))
    for i, (sid, _) in enumerate(demo.students[:CHECKING_IN]):
        for day in days:
            if not skips(i, day):
                submitted.setdefault((i, day), f"{task_id}:{sid}:{day}:v1")
    reviews = 0
    for (i, day), sub in sorted(submitted.items()):
        actions = [("like", "")]
        if i < 3 and day.weekday() in (1, 3):
            actions.append(("excellent", "照片清楚，做得认真！"))
        elif i == 3 and day == today:
            actions.append(("redo", "照片看不清，请重新拍一张。"))
        elif day.weekday() == 4:
            actions.append(("comment", "坚持就是胜利。"))
        for action, comment in actions:
            r = cg.post(
                f"{path}/submissions/{sub}/reviews", json={"action": action, "comment": comment}, headers=demo.head
            )
            reviews += r.is_success
    week = (monday + timedelta(days=3)).isocalendar()
    period = f"{week.year}-W{week.week:02d}"
    r = cg.post(f"/v1/classes/{cid}/labour-stars/{period}", headers=demo.head)
    stars = r.json().get("stars", []) if r.is_success else []
    board = cg.get(f"{path}/leaderboard", headers=demo.head).json()
    best = board[0] if isinstance(board, list) and board else {}
    log(
        f"classgroups: labour check-in task {task_id}: {len(submitted)} check-ins with photos over {len(days)} days, "
        f"{reviews} reviews, labour stars of {period}: {len(stars)}, longest current streak "
        f"{best.get('current_streak', '?')}"
    )
    _reading(demo, today)


def daily(title: str, instructions: str, starts: date, days: int, photos: int) -> dict:
    """A daily check-in task's body: a text and ``photos`` photos a day, from ``starts`` for ``days`` days."""
    return {
        "title": title,
        "instructions": instructions,
        "schedule": {"kind": "daily", "starts_on": str(starts), "ends_on": str(starts + timedelta(days=days))},
        "evidence": {"text": True, "photos": photos, "video": False},
    }


def _reading(demo: DemoSchool, today: date) -> None:
    cg, online = demo.cg, demo.online_id
    task = daily(READING_TASK, "每天读二十分钟，写下一句喜欢的话。", today, 30, photos=0)
    r = cg.post(f"/v1/classes/{online}/checkin-tasks", json=task, headers=demo.head)
    r.raise_for_status()
    task_id = r.json()["task_id"]
    for _, who in demo.students[:ONLINE_MEMBERS]:
        body = {"day": str(today), "text": "“读书破万卷，下笔如有神。”"}
        cg.post(f"/v1/classes/{online}/checkin-tasks/{task_id}/submissions", json=body, headers=who)


async def _as_on_the_day(class_id: str, task_id: str, earlier: list[tuple[str, date, list[dict]]]) -> None:
    """The check-ins of days the API no longer takes (more than ``late_days`` ago), each submitted by the
    service's own handler as at 19:00 Beijing time that day, on the service's database (the same settings as the
    service: MONGODB_URL, the S3 store). Events: through the outbox, published by the running service's sweep."""
    from classgroups.access import Caller, ClassAccess
    from classgroups.app import object_store
    from classgroups.domain.media import MediaLimits
    from classgroups.handlers.checkins import Checkins, UploadSettings
    from classgroups.settings import ClassGroupsSettings
    from classgroups.store import ClassGroupsStore, declare
    from common.auth import Principal
    from common.outbox import Outbox
    from common.store import Store

    class NoPublisher:  # this process publishes nothing: the pointers stay for the service's relay
        async def publish_many(self, events, *, event_ids=None) -> None:
            raise RuntimeError("published by the service's relay")

    settings = ClassGroupsSettings()
    store = Store(settings.mongodb_url, f"{settings.mongodb_database_prefix}classgroups", app_name="demo")
    outbox = Outbox(store.db, NoPublisher(), "classgroups")
    declare(store, outbox)
    db = ClassGroupsStore(store.db, outbox)
    limits = MediaLimits(settings.media_photo_max_bytes, settings.media_video_max_bytes)
    handlers = Checkins.build(db.checkins, ClassAccess(db), object_store(settings), UploadSettings(limits, 900, 600))
    try:
        for sid, day, media in earlier:
            at = datetime.combine(day, clock(19, 0), BEIJING)
            caller = Caller(Principal(subject=sid, token_id="demo", expires_at=at + timedelta(hours=1)))
            body = {"day": day, "text": "今天我扫了地，还洗了碗。", "media": media}
            await handlers.submissions.submit(class_id, task_id, caller, body, at.astimezone(UTC))
    finally:
        await store.close()


# --- after-school courses --------------------------------------------------------------------------------------
TERM = "2026-autumn"


def courses(demo: DemoSchool) -> None:
    """Three courses of the term: 围棋 (5 seats, Wednesday 16:00–17:00) taken by 8 students (3 waitlisted), 书法
    at the same time (a student seated in 围棋 is refused: slot conflict), 机器人 on Friday; then a drop from 围棋
    promotes the first of its waitlist."""
    cg = demo.cg
    listed = cg.get("/v1/courses", params={"school": SCHOOL, "term": TERM}, headers=demo.admin)
    if listed.status_code == 200 and any(c["title"] == "围棋" for c in listed.json()):
        log("classgroups: after-school courses already there")
        return
    now = datetime.now(UTC)
    window = {"opens_at": (now - timedelta(hours=1)).isoformat(), "closes_at": (now + timedelta(days=30)).isoformat()}
    ids = {}
    for title, capacity, weekday, starts, ends in [
        ("围棋", 5, 3, "16:00", "17:00"),
        ("书法", 8, 3, "16:30", "17:30"),
        ("机器人", 10, 5, "16:00", "17:30"),
    ]:
        body = {
            "school": SCHOOL,
            "term": TERM,
            "title": title,
            "description": f"课后服务·{title}",
            "capacity": capacity,
            "slots": [{"weekday": weekday, "starts": starts, "ends": ends}],
            "grades": [GRADE],
            **window,
        }
        r = cg.post("/v1/courses", json=body, headers=demo.admin)
        r.raise_for_status()
        ids[title] = r.json()["course_id"]

    def ask(i: int, title: str, kind: str = "selections") -> dict:
        who = demo.students[i][1]
        r = until(
            lambda: cg.post(f"/v1/courses/{ids[title]}/{kind}", json={}, headers=who),
            lambda r: r.status_code == 202,
            "selection",
        )
        rid = r.json()["request_id"]
        done = until(
            lambda: cg.get(f"/v1/course-requests/{rid}", headers=who),
            lambda r: r.is_success and r.json()["status"] == "decided",
            "outcome",
        )
        return done.json()

    outcomes = [ask(i, "围棋")["outcome"] for i in range(8)]
    conflict = ask(0, "书法")
    for i in range(8, 14):
        ask(i, "机器人")
    ask(1, "围棋", "drops")
    roster = cg.get(f"/v1/courses/{ids['围棋']}/roster", headers=demo.admin).json()
    log(
        f"classgroups: courses 围棋 ({outcomes.count('seated')} seated, {outcomes.count('waitlisted')} waitlisted; "
        f"after a drop {len(roster['seated'])} seated, {len(roster['waitlist'])} waiting), 书法 (a slot conflict: "
        f"{conflict.get('reason')}), 机器人"
    )


# --- famous-teacher studios ------------------------------------------------------------------------------------
def studios(demo: DemoSchool) -> None:
    """The demo's famous-teacher studio (名师工作室): added with that feature (the head teacher may lead it)."""


def load(identity_url: str, classgroups_url: str, admin_token: str) -> None:
    admin = {"Authorization": f"Bearer {admin_token}"}
    with (
        httpx.Client(base_url=identity_url, timeout=60) as identity,
        httpx.Client(base_url=classgroups_url, timeout=60) as cg,
    ):
        demo = school(identity, cg, admin)
        for area in (checkins, courses, studios):
            area(demo)


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
