"""The class groups demo of `make run` (deploy/local/demo_classgroups.py) against identity, the fake teacher
registry and class groups as processes on the real Kafka, FerretDB and object store: what it loads is visible
through the public API (rosters, the online class, check-ins with real JPEGs in the object store, reviews, the
leaderboard, last week's labour stars, courses with a waitlist), and a second run adds nothing."""

from __future__ import annotations

import base64
import importlib.util
import json
import sys
import time
import uuid
from datetime import datetime

import httpx
import pytest

from common.reference import BEIJING
from tests.conftest import ROOT, free_port
from tests.e2e.test_identity_catalog_recommender import PASSWORD, identity_with_admin

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]


@pytest.fixture
def demo_module(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "deploy" / "local"))
    spec = importlib.util.spec_from_file_location("demo_classgroups", ROOT / "deploy/local/demo_classgroups.py")
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "demo_classgroups", module)  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def platform(service_process, monkeypatch):
    own = {"MONGODB_DATABASE_PREFIX": f"test_e2e_demo_{uuid.uuid4().hex[:8]}_"}
    registry = service_process(
        "deploy.local.teacher_registry.app:fake_registry_app", free_port(), kafka_principal="admin"
    ).start(wait_ready=False)
    deadline = time.monotonic() + 60
    while registry.status("/healthz") != 200:
        assert time.monotonic() < deadline, "the fake teacher registry did not start"
        time.sleep(0.3)
    identity, admin_phone = identity_with_admin(service_process, IDENTITY_TEACHER_REGISTRY_URL=registry.url, **own)
    jwks = {"AUTH_JWKS_URL": f"{identity.url}/.well-known/jwks.json", "OUTBOX_SWEEP_SECONDS": "1"}
    classgroups = service_process("classgroups.app:create_app", free_port(), **jwks, **own).start(timeout=180)
    # the demo writes the days the API no longer takes with the service's own handler, on the service's database
    monkeypatch.setenv("MONGODB_DATABASE_PREFIX", own["MONGODB_DATABASE_PREFIX"])
    with httpx.Client(timeout=60) as http:
        r = http.post(f"{identity.url}/v1/sessions", json={"identifier": admin_phone, "password": PASSWORD})
        token = r.json()["access_token"]
    return identity.url, classgroups.url, token


def login(http: httpx.Client, identity: str, name: str, demo) -> dict[str, str]:
    body = {"identifier": f"{name}@{demo.DOMAIN}", "password": demo.PASSWORD}
    r = http.post(f"{identity}/v1/sessions", json=body)
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def test_the_demo_school_is_visible_through_the_api_and_loads_once(platform, demo_module) -> None:
    identity, cg, token = platform
    demo = demo_module
    demo.load(identity, cg, token)
    admin = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=cg, timeout=60) as http:
        head = login(http, identity, "demo-head-teacher", demo)
        student = login(http, identity, "demo-student-00", demo)
        parent = login(http, identity, "demo-parent", demo)
        classes = http.get("/v1/me/classes", headers=head).json()
        adm = next(c for c in classes if c["kind"] == "administrative")
        online = next(c for c in classes if c["kind"] == "online")
        assert len(http.get(f"/v1/classes/{adm['id']}/members", headers=head).json()) == demo.STUDENTS
        assert len(http.get(f"/v1/classes/{online['id']}/members", headers=head).json()) == demo.ONLINE_MEMBERS
        # the parent sees their child's class
        child = http.get("/v1/me/classes", headers=student).json()
        assert adm["id"] in {c["id"] for c in child}

        # check-ins: the labour task, a week and more of check-ins with real JPEGs in the object store
        tasks = http.get(f"/v1/classes/{adm['id']}/checkin-tasks", headers=head).json()
        labour = next(t for t in tasks if t["title"] == demo.LABOUR_TASK)
        path = f"/v1/classes/{adm['id']}/checkin-tasks/{labour['task_id']}"
        subs = http.get(f"{path}/submissions", headers=head).json()
        days = {s["day"] for s in subs}
        assert len(days) >= 8 and len({s["student_id"] for s in subs}) == demo.CHECKING_IN
        photo = httpx.get(subs[0]["media"][0]["url"], timeout=30)
        assert photo.status_code == 200 and photo.content[:3] == b"\xff\xd8\xff"  # a JPEG, from the object store
        assert any(s["verdict"] == "excellent" for s in subs) and any(s["verdict"] == "redo" for s in subs)
        assert sum(s["likes"] for s in subs) == len(subs)
        # the parent sees only their child's check-ins
        mine = http.get(f"{path}/submissions", headers=parent).json()
        assert mine and {s["student_id"] for s in mine} == {subject(student)}
        board = http.get(f"{path}/leaderboard", headers=head).json()
        assert board[0]["current_streak"] >= 2
        if datetime.now(BEIJING).weekday() >= 1:  # last week's late window (1 day) has closed since Monday
            stars = http.get(f"/v1/classes/{adm['id']}/labour-stars", headers=head).json()
            assert stars and stars[0]["stars"], stars

        # courses: 围棋 full with a waitlist, one drop promoted the first waiting
        courses = http.get("/v1/courses", params={"school": demo.SCHOOL, "term": demo.TERM}, headers=admin).json()
        weiqi = next(c for c in courses if c["title"] == "围棋")
        roster = http.get(f"/v1/courses/{weiqi['course_id']}/roster", headers=admin).json()
        assert len(roster["seated"]) == 5 and len(roster["waitlist"]) == 2

        # a second run (a `make run` restart) adds nothing
        demo.load(identity, cg, token)
        assert len(http.get(f"/v1/classes/{adm['id']}/checkin-tasks", headers=head).json()) == len(tasks)
        assert len(http.get(f"{path}/submissions", headers=head).json()) == len(subs)
        again = http.get("/v1/courses", params={"school": demo.SCHOOL, "term": demo.TERM}, headers=admin).json()
        assert len(again) == len(courses)
        assert len([c for c in http.get("/v1/me/classes", headers=head).json() if c["kind"] == "online"]) == 1


def subject(headers: dict[str, str]) -> str:
    """The account id an access token names (its ``sub``)."""
    payload = headers["Authorization"].split()[1].split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["sub"]
