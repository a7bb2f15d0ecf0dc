"""common.auth: offline verification of access tokens against a cached JWKS, with keys generated here."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

import httpx
import pytest
from fastapi import Depends, FastAPI
from joserfc import jwt
from joserfc.jwk import OKPKey

from common.auth import (
    JwksCache,
    Principal,
    Role,
    TokenError,
    TokenVerifier,
    install_verifier,
    optional_principal,
    org_covers,
    path_param,
    require_principal,
    require_role,
)
from common.problems import Problem, install_problem_handlers

pytestmark = pytest.mark.unit

ISS, AUD = "https://id.test", "smartedu-api"
SCHOOL = "cn/43/4301/430102/school-123"


def new_key(kid: str) -> OKPKey:
    return OKPKey.generate_key("Ed25519", {"kid": kid, "use": "sig", "alg": "Ed25519"}, private=True)


def sign(key: OKPKey, *, exp_in: int = 300, typ: str = "at+jwt", **claims: object) -> str:
    now = int(time.time())
    body = {
        "iss": ISS,
        "aud": AUD,
        "sub": "u-1",
        "jti": uuid.uuid4().hex,
        "iat": now,
        "exp": now + exp_in,
        "roles": [],
        "kind": "teacher",
    }
    body.update(claims)
    header = {"alg": "Ed25519", "kid": key.kid, "typ": typ}
    return jwt.encode(header, body, key, algorithms=["Ed25519"])


class FakeIdentity:
    """An httpx transport serving a JWKS that the test rotates, counting fetches."""

    def __init__(self, *keys: OKPKey) -> None:
        self.keys = list(keys)
        self.requests = 0

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        return httpx.Response(200, json={"keys": [k.as_dict(private=False) for k in self.keys]})

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.MockTransport(self.handler))


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def verifier_for(idp: FakeIdentity, clock: Clock | None = None, **kw: float) -> TokenVerifier:
    cache = JwksCache("http://id.test/.well-known/jwks.json", client=idp.client(), clock=clock or time.monotonic, **kw)
    return TokenVerifier(cache, issuer=ISS, audience=AUD, leeway_seconds=0)


# ---------------------------------------------------------------------------------------------- scopes


def test_scope_covers_its_subtree_only():
    assert org_covers("cn/43", SCHOOL)
    assert org_covers(SCHOOL, SCHOOL)
    assert not org_covers("cn/43/4301/430102/school-12", SCHOOL)  # prefix but not a path boundary
    assert not org_covers("cn/44", SCHOOL)
    assert not org_covers(SCHOOL, "cn/43")  # a school admin does not reach the province
    assert org_covers(None, SCHOOL) and org_covers(None, None)
    assert not org_covers("cn/43", None)


def test_principal_role_checks_and_403_reasons():
    p = Principal(
        subject="u",
        token_id="t",
        expires_at="2030-01-01T00:00:00Z",
        roles=(Role.parse("county_admin@cn/43/4301/430102"), Role.parse("catalog_editor")),
    )
    assert p.has_role("county_admin", org=SCHOOL)
    assert not p.has_role("county_admin", org="cn/43/4301/430103")
    assert p.has_role("catalog_editor", org=SCHOOL)  # ministry-wide
    assert p.scopes_of("county_admin") == ["cn/43/4301/430102"]
    with pytest.raises(Problem) as out:
        p.require("county_admin", org="cn/43/4301/430103")
    assert (out.value.status, out.value.code) == (403, "out_of_scope")
    with pytest.raises(Problem) as missing:
        p.require("school_admin", org=SCHOOL)
    assert (missing.value.status, missing.value.code) == (403, "missing_role")
    assert Role.parse("teacher@" + SCHOOL).claim() == "teacher@" + SCHOOL
    assert Role.parse("ministry_admin").org is None


# ---------------------------------------------------------------------------------------------- verify


async def test_valid_token_becomes_a_principal():
    k1 = new_key("k1")
    verifier = verifier_for(FakeIdentity(k1))
    p = await verifier.verify(sign(k1, roles=[f"school_admin@{SCHOOL}"], client_id="portal"))
    assert p.subject == "u-1" and p.kind == "teacher" and p.client_id == "portal"
    assert p.roles == (Role(name="school_admin", org=SCHOOL),)


async def test_a_principal_carries_its_tokens_session_and_issue_time():
    k1 = new_key("k1")
    verifier = verifier_for(FakeIdentity(k1))
    p = await verifier.verify(sign(k1, sid="family-1", iat=1_700_000_000))
    assert p.session == "family-1" and p.issued_at == datetime.fromtimestamp(1_700_000_000, UTC)
    bare = await verifier.verify(sign(k1))
    assert bare.session is None


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda t: t[:-4] + ("AAAA" if not t.endswith("AAAA") else "BBBB"), "tampered"),
        (lambda t: "not-a-jwt", "tampered"),
        (lambda t: t.split(".")[0] + ".eyJzdWIiOiJhZG1pbiJ9." + t.split(".")[2], "tampered"),
    ],
)
async def test_tampered_tokens_are_refused(mutate, reason):
    k1 = new_key("k1")
    verifier = verifier_for(FakeIdentity(k1))
    with pytest.raises(TokenError) as exc:
        await verifier.verify(mutate(sign(k1)))
    assert exc.value.reason == reason


async def test_expired_wrong_audience_and_id_token_are_refused():
    k1 = new_key("k1")
    verifier = verifier_for(FakeIdentity(k1))
    with pytest.raises(TokenError) as expired:
        await verifier.verify(sign(k1, exp_in=-5))
    assert expired.value.reason == "expired"
    with pytest.raises(TokenError) as aud:
        await verifier.verify(sign(k1, aud="another-api"))
    assert aud.value.reason == "invalid"
    with pytest.raises(TokenError) as idt:
        await verifier.verify(sign(k1, typ="JWT"))
    assert idt.value.reason == "invalid"


async def test_key_not_published_is_unknown_and_refetch_is_rate_limited():
    k1, stranger = new_key("k1"), new_key("evil")
    idp, clock = FakeIdentity(k1), Clock()
    verifier = verifier_for(idp, clock, min_refresh_seconds=30)
    await verifier.verify(sign(k1))
    assert idp.requests == 1
    clock.now += 31
    for _ in range(50):
        with pytest.raises(TokenError) as exc:
            await verifier.verify(sign(stranger))
        assert exc.value.reason == "unknown_key"
    assert idp.requests == 2  # the first unknown kid refetched once; the other 49 were answered from memory
    clock.now += 31
    with pytest.raises(TokenError):
        await verifier.verify(sign(stranger))
    assert idp.requests == 3


async def test_rotation_new_key_fetched_and_old_key_verifies_until_retained_window_ends():
    k1, k2 = new_key("k1"), new_key("k2")
    idp, clock = FakeIdentity(k1), Clock()
    verifier = verifier_for(idp, clock, min_refresh_seconds=0, retain_seconds=900, max_age_seconds=60)
    old_token = sign(k1)
    await verifier.verify(old_token)
    idp.keys = [k2]  # identity rotated and no longer publishes k1
    assert (await verifier.verify(sign(k2))).subject == "u-1"
    assert idp.requests == 2
    assert (await verifier.verify(old_token)).subject == "u-1"  # k1 retained
    clock.now += 1000  # past the retention window: the stale copy is refetched and k1 is dropped
    with pytest.raises(TokenError) as exc:
        await verifier.verify(old_token)
    assert exc.value.reason == "unknown_key"


async def test_a_token_seen_before_is_answered_from_the_cache_until_it_expires(monkeypatch):
    k1 = new_key("k1")
    wall = Clock()
    wall.now = time.time()
    cache = JwksCache("http://id.test/.well-known/jwks.json", client=FakeIdentity(k1).client())
    verifier = TokenVerifier(cache, issuer=ISS, audience=AUD, leeway_seconds=5, clock=wall)
    full_checks = 0
    original = verifier.verify_with_key

    def counting(token, key):
        nonlocal full_checks
        full_checks += 1
        return original(token, key)

    monkeypatch.setattr(verifier, "verify_with_key", counting)
    token = sign(k1, exp_in=60, roles=[f"teacher@{SCHOOL}"])
    first = await verifier.verify(token)
    for _ in range(20):
        assert await verifier.verify(token) == first
    assert full_checks == 1
    wall.now += 60 + 4  # within the leeway: still valid
    assert (await verifier.verify(token)).subject == "u-1"
    wall.now += 2  # past exp + leeway: the cached entry must not outlive the token
    with pytest.raises(TokenError) as exc:
        await verifier.verify(token)
    assert exc.value.reason == "expired"


async def test_the_verified_cache_is_bounded_and_never_admits_a_different_string():
    k1 = new_key("k1")
    cache = JwksCache("http://id.test/.well-known/jwks.json", client=FakeIdentity(k1).client())
    verifier = TokenVerifier(cache, issuer=ISS, audience=AUD, cache_size=3)
    tokens = [sign(k1) for _ in range(5)]
    for t in tokens:
        await verifier.verify(t)
    assert len(verifier._verified) == 3
    with pytest.raises(TokenError) as exc:  # a cached token with its signature altered is checked afresh
        await verifier.verify(tokens[-1][:-4] + ("AAAA" if not tokens[-1].endswith("AAAA") else "BBBB"))
    assert exc.value.reason == "tampered"


async def test_jwks_outage_keeps_known_keys():
    k1 = new_key("k1")
    ok = FakeIdentity(k1)
    state = {"down": False}

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(503) if state["down"] else ok.handler(request)

    clock = Clock()
    cache = JwksCache(
        "http://id.test/jwks",
        client=httpx.AsyncClient(transport=httpx.MockTransport(handler)),
        clock=clock,
        max_age_seconds=10,
        min_refresh_seconds=0,
    )
    verifier = TokenVerifier(cache, issuer=ISS, audience=AUD)
    await verifier.verify(sign(k1))
    state["down"] = True
    clock.now += 100
    assert (await verifier.verify(sign(k1))).subject == "u-1"


def test_private_or_foreign_keys_in_jwks_are_ignored():
    k1 = new_key("k1")
    cache = JwksCache("http://x")
    rsa_like = {"kty": "RSA", "kid": "r", "n": "AQAB", "e": "AQAB"}
    cache.load({"keys": [k1.as_dict(private=True), rsa_like, {"kty": "OKP", "crv": "Ed25519", "x": "!!"}]})
    assert cache.kids == []


# ---------------------------------------------------------------------------------------------- FastAPI


def app_with(verifier: TokenVerifier) -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)
    install_verifier(app, verifier)

    @app.get("/maybe")
    async def maybe(p: Principal | None = Depends(optional_principal)):
        return {"sub": p.subject if p else None}

    @app.get("/me")
    async def me(p: Principal = Depends(require_principal)):
        return {"sub": p.subject}

    @app.get("/orgs/{org:path}/admin")
    async def admin(
        org: str, p: Principal = Depends(require_role("school_admin", "county_admin", org=path_param("org")))
    ):
        return {"sub": p.subject, "org": org}

    return app


async def call(app: FastAPI, path: str, token: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        return await c.get(path, headers=headers)


async def test_dependencies_answer_401_and_403_as_problems():
    k1 = new_key("k1")
    app = app_with(verifier_for(FakeIdentity(k1)))
    assert (await call(app, "/maybe")).json() == {"sub": None}
    missing = await call(app, "/me")
    assert missing.status_code == 401 and missing.json()["reason"] == "missing"
    assert missing.headers["content-type"].startswith("application/problem+json")
    expired = await call(app, "/me", sign(k1, exp_in=-5))
    assert expired.status_code == 401 and expired.json()["code"] == "token_expired"
    bad = await call(app, "/maybe", sign(k1)[:-3] + "abc")
    assert bad.status_code == 401 and bad.json()["reason"] == "tampered"

    admin = sign(k1, roles=["county_admin@cn/43/4301/430102"])
    assert (await call(app, f"/orgs/{SCHOOL}/admin", admin)).status_code == 200
    out = await call(app, "/orgs/cn/43/4301/430103/school-9/admin", admin)
    assert out.status_code == 403 and out.json()["code"] == "out_of_scope"
    student = await call(app, f"/orgs/{SCHOOL}/admin", sign(k1, roles=[f"student@{SCHOOL}"]))
    assert student.status_code == 403 and student.json()["code"] == "missing_role"
