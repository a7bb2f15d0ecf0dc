"""Across services, each its own process on the real Kafka and store: identity's tokens open catalog's editorial
workflow (verified offline against identity's published keys), and what catalog publishes reaches the
recommender's candidate pool through Kafka."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import random
import secrets
import subprocess
import sys
import uuid
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import orjson
import pytest

from tests.conftest import ROOT, free_port
from tests.integration.common.helpers import eventually
from tests.integration.recommender.conftest import tree_lines

pytestmark = pytest.mark.e2e

PASSWORD = "Jiaoyu-Pingtai-2026"


def identity_with_admin(service_process, **env: str) -> tuple[Any, str]:
    """Identity as a process with its demo orgs (schools, provider/pep), and the phone of its first ministry admin,
    made by the operator's one-time step with identity's own environment. The step runs once per database: a
    second test of the run passes a ``MONGODB_DATABASE_PREFIX`` of its own in ``env``."""
    admin_phone = f"139{random.randrange(10**8):08d}"
    identity = service_process(
        "identity.app:create_app",
        free_port(),
        IDENTITY_ARGON2_TIME_COST="1",
        IDENTITY_ARGON2_MEMORY_KIB="8192",
        IDENTITY_SEED_DEMO="true",
        **env,
    ).start()
    subprocess.run(
        [sys.executable, "-m", "identity.bootstrap", "--phone", admin_phone],
        env={**identity.env, "IDENTITY_BOOTSTRAP_PASSWORD": PASSWORD},
        check=True,
        capture_output=True,
    )
    return identity, admin_phone


@pytest.fixture
def platform(service_process):
    # a database of this test's own: identity's one-time admin step runs once per database
    identity, admin_phone = identity_with_admin(
        service_process, MONGODB_DATABASE_PREFIX=f"e2e_rec_{uuid.uuid4().hex[:8]}_"
    )
    jwks = {"AUTH_JWKS_URL": f"{identity.url}/.well-known/jwks.json"}
    catalog = service_process("catalog.app:create_app", free_port(), **jwks).start(timeout=120)
    recommender = service_process("recommender.app:create_app", free_port(), **jwks).start()
    return {"identity": identity.url, "catalog": catalog.url, "recommender": recommender.url, "admin": admin_phone}


async def account(http: httpx.AsyncClient, identity: str, login: dict, kind: str = "teacher") -> str:
    r = await http.post(
        f"{identity}/v1/accounts", json={**login, "password": PASSWORD, "real_name": "测试用户", "kind": kind}
    )
    assert r.status_code == 201, r.text
    return r.json()["user_id"]


async def bearer(http: httpx.AsyncClient, identity: str, identifier: str, password: str = PASSWORD) -> dict[str, str]:
    r = await http.post(f"{identity}/v1/sessions", json={"identifier": identifier, "password": password})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


async def relying_party_token(http: httpx.AsyncClient, identity: str, admin: dict, user: dict) -> str:
    """The OIDC code flow (consent, PKCE) for a freshly registered relying party: its access token for ``user``."""
    callback = "https://rp.example.cn/cb"
    reg = await http.post(
        f"{identity}/v1/oidc-clients", headers=admin, json={"name": "第三方", "redirect_uris": [callback]}
    )
    client_id, secret = reg.json()["client_id"], reg.json()["client_secret"]
    scope = "openid roles"
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    params = {
        "client_id": client_id,
        "redirect_uri": callback,
        "response_type": "code",
        "scope": scope,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    consent = await http.post(f"{identity}/oauth2/consent", headers=user, json={"client_id": client_id, "scope": scope})
    assert consent.status_code == 200, consent.text
    answer = await http.get(f"{identity}/oauth2/authorize", headers=user, params=params)
    assert answer.status_code == 302, answer.text
    code = parse_qs(urlparse(answer.headers["location"]).query)["code"][0]
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": callback, "code_verifier": verifier}
    tokens = await http.post(f"{identity}/oauth2/token", data=form, auth=(client_id, secret))
    assert tokens.status_code == 200, tokens.text
    return tokens.json()["access_token"]


async def test_roles_granted_in_identity_drive_catalog_review_and_reach_the_recommender(platform) -> None:
    idn, cat, rec = platform["identity"], platform["catalog"], platform["recommender"]
    tag = uuid.uuid4().hex[:8]
    async with httpx.AsyncClient(timeout=30) as http:
        admin = await bearer(http, idn, platform["admin"])
        editor_id = await account(http, idn, {"email": f"ed-{tag}@pep.example.cn"})
        reviewer_id = await account(http, idn, {"email": f"rev-{tag}@pep.example.cn"})
        await account(http, idn, {"email": f"stu-{tag}@school.example.cn"}, kind="student")
        for user, role in ((editor_id, "catalog_editor"), (reviewer_id, "catalog_reviewer")):
            r = await http.post(
                f"{idn}/v1/role-grants", json={"user_id": user, "role": role, "org": "provider/pep"}, headers=admin
            )
            assert r.status_code == 200 and r.json()["changed"], r.text
        editor = await bearer(http, idn, f"ed-{tag}@pep.example.cn")
        reviewer = await bearer(http, idn, f"rev-{tag}@pep.example.cn")
        student = await bearer(http, idn, f"stu-{tag}@school.example.cn")

        draft = {
            "external_id": f"e2e-{tag}",
            "provider_kind": "publisher",
            "provider_id": "pep",
            "content": {
                "kind": "video_lesson",
                "title": f"分数的加法和减法 {tag}",
                "summary": "同分母分数相加减。",
                "section": "local_channels",
                "local_channel": "hn",
                "stages": ["primary"],
                "grades": [5],
                "subjects": ["math"],
                "license": "CC-BY-NC-ND-4.0",
                "media": [{"url": "https://r.smartedu.cn/e2e.mp4", "duration_seconds": 600}],
            },
        }
        # A student's genuine token is refused by role; a forged one by signature.
        assert (await http.post(f"{cat}/v1/resources", json=draft, headers=student)).status_code == 403
        forged = {"Authorization": editor["Authorization"][:-4] + "AAAA"}
        refused = await http.post(f"{cat}/v1/resources", json=draft, headers=forged)
        assert refused.status_code == 401 and refused.json()["code"].startswith("token_")

        # A relying party the editor signed in to holds a token with the editor's roles (scope "roles"), but for
        # its own audience: catalog refuses it, so a third-party site cannot act on the platform as the user.
        rp_token = await relying_party_token(http, idn, admin, editor)
        as_rp = await http.post(f"{cat}/v1/resources", json=draft, headers={"Authorization": f"Bearer {rp_token}"})
        assert as_rp.status_code == 401 and as_rp.json()["reason"] == "invalid"

        created = await http.post(f"{cat}/v1/resources", json=draft, headers=editor)
        assert created.status_code == 201, created.text
        rid = created.json()["id"]
        assert (await http.post(f"{cat}/v1/resources/{rid}/submit", headers=editor)).status_code == 200
        # the editor holds no reviewer role: publishing is the reviewer's
        assert (await http.post(f"{cat}/v1/resources/{rid}/publish", headers=editor)).status_code == 403
        published = await http.post(f"{cat}/v1/resources/{rid}/publish", headers=reviewer)
        assert published.status_code == 200, published.text
        assert (await http.get(f"{cat}/v1/resources/{rid}")).json()["title"] == f"分数的加法和减法 {tag}"

        async def candidate():
            r = await http.get(f"{rec}/v1/candidates/{rid}")
            return r.json() if r.status_code == 200 else None

        pooled = await eventually(candidate, timeout=120, every=0.5)
        assert pooled["version"] == 1 and pooled["subjects"] == ["math"]


async def test_a_student_signed_in_through_identity_answers_and_the_notebook_and_recommendations_follow(
    platform,
) -> None:
    """Every service a process: the catalog imports a textbook and publishes an exercise and lesson resources;
    a student registered and signed in through identity sets a profile, answers wrong through the recommender,
    and their notebook files the knowledge point while their recommendations bring the lesson and the weak
    point's resource."""
    idn, cat, rec = platform["identity"], platform["catalog"], platform["recommender"]
    tag = uuid.uuid4().hex[:8]
    version = f"tv.e2e{tag}.primary.math"
    lessons = [f"{version}/g5b/u1/l{i}" for i in (1, 2, 3)]
    kp = f"分数的加法-{tag}"
    async with httpx.AsyncClient(timeout=30) as http:
        admin = await bearer(http, idn, platform["admin"])
        imported = await http.post(
            f"{cat}/v1/import",
            content=tree_lines(version, lessons),
            headers={**admin, "Content-Type": "application/x-ndjson"},
        )
        assert imported.status_code == 200, imported.text
        exercise = {
            "external_id": f"e2e-ex-{tag}",
            "provider_id": "pep",
            "content": {
                "item_type": "single_choice",
                "stem": "1/4 + 2/4 = ?",
                "choices": [{"key": "A", "text": "3/4"}, {"key": "B", "text": "3/8"}],
                "answer_key": ["A"],
                "explanation": "同分母分数相加，分母不变，分子相加。",
                "knowledge_points": [kp],
                "difficulty": 2,
                "lesson_id": lessons[0],
            },
        }
        r = await http.post(f"{cat}/v1/exercises", json=exercise, headers=admin)
        assert r.status_code == 201, r.text
        eid = r.json()["id"]
        assert "answer_key" not in (await http.get(f"{cat}/v1/exercises/{eid}")).json()
        rids = []
        for i in range(2):  # the first lesson's video; a remedial video on the knowledge point, in no lesson (湖南's)
            content = {
                "kind": "video_lesson",
                "title": f"第{i + 1}课时 {tag}",
                "summary": "名师讲解。",
                "section": "course_teaching",
                "column": "synchronous_class",
                "stages": ["primary"],
                "grades": [5],
                "subjects": ["math"],
                "knowledge_points": [kp] if i else [],
                "license": "CC-BY-NC-ND-4.0",
                "media": [{"url": f"https://r.smartedu.cn/{tag}-{i}.mp4", "duration_seconds": 600}],
            }
            if i:
                content |= {"section": "local_channels", "local_channel": "43"}
                del content["column"]
            else:
                content["lesson"] = {
                    "textbook_version_id": version,
                    "volume_id": f"{version}/g5b",
                    "unit_id": f"{version}/g5b/u1",
                    "lesson_id": lessons[0],
                    "position": 0,
                }
            body = {"external_id": f"e2e-{tag}-{i}", "provider_kind": "publisher", "provider_id": "pep"}
            created = await http.post(f"{cat}/v1/resources", json={**body, "content": content}, headers=admin)
            assert created.status_code == 201, created.text
            rid = created.json()["id"]
            for action in ("submit", "publish"):
                assert (await http.post(f"{cat}/v1/resources/{rid}/{action}", headers=admin)).status_code == 200
            rids.append(rid)

        await account(http, idn, {"email": f"stu-{tag}@school.example.cn"}, kind="student")
        student = await bearer(http, idn, f"stu-{tag}@school.example.cn")
        profile = {"grade": 5, "textbook_versions": [version], "subjects": ["math"], "province": "43"}
        assert (await http.put(f"{rec}/v1/me/profile", json=profile, headers=student)).status_code == 200
        submission = {"submission_id": uuid.uuid4().hex, "answers": [{"exercise_id": eid, "choices": ["B"]}]}

        async def graded():  # the recommender learns the exercise from the catalog's topic
            r = await http.post(f"{rec}/v1/me/answers", json=submission, headers=student)
            return r.json() if r.status_code == 200 else None

        result = (await eventually(graded, timeout=120, every=0.5))["results"][0]
        assert result["correct"] is False and result["answer_key"] == ["A"]
        book = (await http.get(f"{rec}/v1/me/notebook", headers=student)).json()
        filed = {p["knowledge_point"]: p for s in book["subjects"] for p in s["knowledge_points"]}
        assert filed[kp]["wrong_count"] == 1 and filed[kp]["exercises"][0]["exercise"]["id"] == eid
        assert book["mastery"][kp] < 0.6

        async def page():
            r = await http.get(f"{rec}/v1/me/recommendations", headers=student)
            items = {i["resource_id"]: i["reason_code"] for i in r.json()["items"]}
            return items if set(rids) <= set(items) else None

        items = await eventually(page, timeout=120, every=0.5)
        assert items[rids[0]] == "next_lesson"  # the first lesson of grade 5 in their textbook
        assert items[rids[1]] == "weak_point"  # mastery of the point fell below 0.6 with the wrong answer
        teacher_view = await http.get(f"{rec}/v1/teachers/me/missed-knowledge-points", headers=student)
        assert teacher_view.status_code == 403


def demo_tree() -> bytes:
    """The demo catalog's 人教版 初中数学 tree (nodes only): what the recommender's demo publishes exercises on."""
    sys.path.insert(0, str(ROOT / "deploy" / "local"))
    from demo_catalog import generate

    rows = [r for r in generate() if r.get("type") == "node" and r["id"].startswith(demo_recommender().VERSION)]
    return b"\n".join(orjson.dumps(r) for r in rows)


def demo_recommender():
    sys.path.insert(0, str(ROOT / "deploy" / "local"))
    import demo_recommender

    return demo_recommender


async def test_the_recommender_demo_fills_notebooks_and_a_second_load_changes_nothing(platform) -> None:
    idn, cat, rec = platform["identity"], platform["catalog"], platform["recommender"]
    async with httpx.AsyncClient(timeout=60) as http:
        admin = await bearer(http, idn, platform["admin"])
        r = await http.post(
            f"{cat}/v1/import", content=demo_tree(), headers={**admin, "Content-Type": "application/x-ndjson"}
        )
        assert r.status_code == 200, r.text
        demo = demo_recommender()
        token = admin["Authorization"].removeprefix("Bearer ")
        await asyncio.to_thread(demo.load, idn, cat, rec, token)
        student = await bearer(http, idn, "demo-student-00@demo-school.example.cn", demo.PASSWORD)
        first = (await http.get(f"{rec}/v1/me/notebook", headers=student)).json()
        filed = {p["knowledge_point"]: p for s in first["subjects"] for p in s["knowledge_points"]}
        assert set(filed) == {"平面直角坐标系", "二元一次方程组", "不等式与不等式组"}  # student 0 misses all three
        assert all(p["similar_exercises"] for p in filed.values())
        assert (await http.get(f"{rec}/v1/me/profile", headers=student)).json()["grade"] == 7
        await asyncio.to_thread(demo.load, idn, cat, rec, token)
        again = (await http.get(f"{rec}/v1/me/notebook", headers=student)).json()

        def settled(book: dict) -> dict:  # whether a review is due moves with the clock, not with the load
            for s in book["subjects"]:
                for p in s["knowledge_points"]:
                    p.pop("review_due")
            return book

        assert settled(again) == settled(first)
