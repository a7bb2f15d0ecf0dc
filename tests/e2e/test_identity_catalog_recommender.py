"""Across services, each its own process on the real Kafka and store: identity's tokens open catalog's editorial
workflow (verified offline against identity's published keys), and what catalog publishes reaches the
recommender's candidate pool through Kafka."""

from __future__ import annotations

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
import pytest

from tests.conftest import free_port
from tests.integration.common.helpers import eventually

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
    identity, admin_phone = identity_with_admin(service_process)
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


async def bearer(http: httpx.AsyncClient, identity: str, identifier: str) -> dict[str, str]:
    r = await http.post(f"{identity}/v1/sessions", json={"identifier": identifier, "password": PASSWORD})
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
