"""SSO with Authlib's OAuth client as the third-party system; teacher verification through the registry
adapter (fake registry behind the same adapter); guardian links."""

from __future__ import annotations

import warnings
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from tests.integration.identity.conftest import ISSUER

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from authlib.integrations.httpx_client import AsyncOAuth2Client
    from authlib.jose import JsonWebKey, jwt
    from authlib.oidc.core import CodeIDToken

pytestmark = pytest.mark.integration

SCHOOL = "cn/43/4301/430102/school-430102001"
RP = "https://rp.example.cn/callback"


async def test_oidc_code_flow_with_pkce_using_authlib(identity):
    admin_id, admin_phone = await identity.register("teacher")
    await identity.make(admin_id, "ministry_admin")
    admin_h = await identity.bearer(admin_phone)
    reg = await identity.client.post(
        "/v1/oidc-clients",
        headers=admin_h,
        json={"name": "省级平台", "redirect_uris": [RP], "post_logout_redirect_uris": ["https://rp.example.cn/bye"]},
    )
    assert reg.status_code == 201
    client_id, secret = reg.json()["client_id"], reg.json()["client_secret"]
    stored = await identity.service.store.db["clients"].find_one({"_id": f"client:{client_id}"})
    assert secret not in str(stored)  # only its digest is kept

    # a non-admin cannot register clients
    user_id, phone = await identity.register("student")
    user_h = await identity.bearer(phone)
    assert (
        await identity.client.post("/v1/oidc-clients", headers=user_h, json={"name": "x", "redirect_uris": [RP]})
    ).status_code == 403

    discovery = (await identity.client.get("/.well-known/openid-configuration")).json()
    assert discovery["issuer"] == ISSUER and "S256" in discovery["code_challenge_methods_supported"]

    transport = httpx.ASGITransport(app=identity.app)
    verifier = "v" * 20 + "erifier-for-pkce-of-at-least-43-chars"
    async with AsyncOAuth2Client(
        client_id,
        secret,
        scope="openid profile roles",
        redirect_uri=RP,
        code_challenge_method="S256",
        transport=transport,
    ) as rp:
        url, state = rp.create_authorization_url(
            discovery["authorization_endpoint"], code_verifier=verifier, nonce="n-123"
        )
        # the user is logged in on the platform; the browser carries their session to /authorize, which asks for
        # the user's consent first (the platform's front end shows it and posts the answer)
        asked = await identity.client.get(url, headers=user_h)
        assert asked.status_code == 403 and asked.json()["code"] == "consent_required"
        assert asked.json()["client_id"] == client_id and asked.json()["scope"] == "openid profile roles"
        agreed = await identity.client.post(
            "/oauth2/consent", headers=user_h, json={"client_id": client_id, "scope": asked.json()["scope"]}
        )
        assert agreed.status_code == 200
        answer = await identity.client.get(url, headers=user_h)
        assert answer.status_code == 302
        callback = answer.headers["location"]
        assert callback.startswith(RP) and parse_qs(urlparse(callback).query)["state"] == [state]
        token = await rp.fetch_token(
            discovery["token_endpoint"], authorization_response=callback, code_verifier=verifier
        )
        assert {"access_token", "id_token", "refresh_token"} <= token.keys()

        jwks = (await identity.client.get("/.well-known/jwks.json")).json()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            claims = jwt.decode(
                token["id_token"],
                JsonWebKey.import_key_set(jwks),
                claims_cls=CodeIDToken,
                claims_options={"iss": {"value": ISSUER}},
                claims_params={"nonce": "n-123", "client_id": client_id},
            )
            claims.validate()
        assert claims["sub"] == user_id

        info = await rp.get(discovery["userinfo_endpoint"])
        assert info.status_code == 200 and info.json()["sub"] == user_id and info.json()["name"] == "李明"

        # the code is single-use
        replay = await identity.client.post(
            "/oauth2/token",
            data={
                "grant_type": "authorization_code",
                "code": parse_qs(urlparse(callback).query)["code"][0],
                "redirect_uri": RP,
                "code_verifier": verifier,
                "client_id": client_id,
                "client_secret": secret,
            },
        )
        assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"

        refreshed = await rp.refresh_token(discovery["token_endpoint"], refresh_token=token["refresh_token"])
        assert refreshed["access_token"] != token["access_token"]

    # wrong PKCE verifier is refused
    async with AsyncOAuth2Client(
        client_id, secret, scope="openid", redirect_uri=RP, code_challenge_method="S256", transport=transport
    ) as rp:
        url, _ = rp.create_authorization_url(discovery["authorization_endpoint"], code_verifier=verifier)
        callback = (await identity.client.get(url, headers=user_h)).headers["location"]
        code = parse_qs(urlparse(callback).query)["code"][0]
        bad = await identity.client.post(
            "/oauth2/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": RP,
                "code_verifier": "w" * 50,
                "client_id": client_id,
                "client_secret": secret,
            },
        )
        assert bad.status_code == 400

    # no PKCE → error back to the client; unregistered redirect → no redirect at all
    no_pkce = await identity.client.get(
        "/oauth2/authorize",
        headers=user_h,
        params={"client_id": client_id, "redirect_uri": RP, "response_type": "code", "scope": "openid"},
    )
    assert no_pkce.status_code == 302 and "error=invalid_request" in no_pkce.headers["location"]
    evil = await identity.client.get(
        "/oauth2/authorize",
        headers=user_h,
        params={
            "client_id": client_id,
            "redirect_uri": "https://evil.example/cb",
            "code_challenge": "x" * 43,
            "code_challenge_method": "S256",
        },
    )
    assert evil.status_code == 400

    bye = await identity.client.get(
        "/oauth2/logout",
        params={"client_id": client_id, "post_logout_redirect_uri": "https://rp.example.cn/bye", "state": "s"},
    )
    assert bye.status_code == 302 and bye.headers["location"] == "https://rp.example.cn/bye?state=s"


async def test_teacher_verification_through_registry_adapter(identity, events):
    teacher_id, phone = await identity.register("teacher")  # real name 李明, listed in the fake registry
    h = await identity.bearer(phone)
    r = await identity.client.post("/v1/teacher-verifications", headers=h, json={"national_id": "11010519491231002x"})
    assert r.status_code == 200 and r.json() == {"outcome": "verified"}
    event = await events.wait_for("cn.smartedu.identity.teacher.verified.v1", lambda e: e["user_id"] == teacher_id)
    assert event["outcome"] == "verified" and event["school"] == SCHOOL
    assert "11010519491231002" not in str(events.raw())
    me = await identity.client.get("/v1/accounts/me", headers=await identity.bearer(phone))
    assert f"teacher@{SCHOOL}" in me.json()["roles"] and me.json()["teacher_status"] == "verified"
    # now, and only now, a school admin may make them head teacher of an administrative class
    admin_id, admin_phone = await identity.register("teacher")
    await identity.make(admin_id, "school_admin", SCHOOL)
    head = await identity.client.post(
        "/v1/role-grants",
        headers=await identity.bearer(admin_phone),
        json={"user_id": teacher_id, "role": "head_teacher", "org": SCHOOL},
    )
    assert head.status_code == 200 and head.json() == {"changed": True, "status": "granted"}

    other_id, other_phone = await identity.register("teacher")
    oh = await identity.bearer(other_phone)
    dup = await identity.client.post(
        "/v1/teacher-verifications", headers=oh, json={"national_id": "11010519491231002X"}
    )
    # the same answer as any rejection: nothing tells the caller that the number belongs to someone
    assert dup.status_code == 200 and dup.json() == {"outcome": "rejected"}
    rejected = await identity.client.post(
        "/v1/teacher-verifications", headers=oh, json={"national_id": "430102198001010011"}
    )  # registry name is 王芳
    assert rejected.json() == {"outcome": "rejected"}
    reasons = {"already_claimed", "name_mismatch"}
    for reason in sorted(reasons):  # the reason goes to the event (for the platform's staff), not to the caller
        await events.wait_for(
            "cn.smartedu.identity.teacher.verified.v1",
            lambda e, r=reason: e["user_id"] == other_id and e["reason"] == r,
        )

    _, student_phone = await identity.register("student")
    no = await identity.client.post(
        "/v1/teacher-verifications",
        headers=await identity.bearer(student_phone),
        json={"national_id": "430102198001010011"},
    )
    assert no.status_code == 403


async def test_guardian_link_approved_by_head_teacher(identity, events):
    child_id, child_phone = await identity.register("student", birth_date="2016-03-01")
    parent_id, parent_phone = await identity.register("parent")
    head_id, head_phone = await identity.register("teacher")
    await identity.make(child_id, "student", SCHOOL)
    await identity.service.store.accounts.update(child_id, fields={"school": SCHOOL})
    await identity.make(head_id, "head_teacher", SCHOOL)

    ph = await identity.bearer(parent_phone)
    r = await identity.client.post("/v1/guardian-links", headers=ph, json={"child_id": child_id})
    assert r.status_code == 201 and r.json()["status"] == "pending"
    assert (
        await identity.client.post("/v1/guardian-links", headers=ph, json={"child_id": child_id})
    ).status_code == 409
    path = f"/v1/guardian-links/{child_id}/{parent_id}/approve"
    assert (await identity.client.post(path, headers=ph)).status_code == 403  # not their own
    too_young = await identity.client.post(path, headers=await identity.bearer(child_phone))
    assert too_young.status_code == 403 and too_young.json()["code"] == "too_young"
    ok = await identity.client.post(path, headers=await identity.bearer(head_phone))
    assert ok.status_code == 200 and ok.json() == {"status": "approved", "approver_role": "head_teacher"}
    linked = await events.wait_for("cn.smartedu.identity.guardian.linked.v1", lambda e: e["user_id"] == child_id)
    assert linked["guardian_id"] == parent_id and linked["approved_by"] == head_id


async def test_deactivation_stops_login_and_refresh(identity, events):
    user_id, phone = await identity.register("parent")
    tokens = await identity.login(phone)
    h = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert (await identity.client.post(f"/v1/accounts/{user_id}/deactivate", headers=h)).status_code == 204
    await events.wait_for("cn.smartedu.identity.user.deactivated.v1", lambda e: e["user_id"] == user_id)
    assert (
        await identity.client.post("/v1/sessions", json={"identifier": phone, "password": "Correct-Horse-9"})
    ).status_code == 401
    assert (
        await identity.client.post("/v1/sessions/refresh", json={"refresh_token": tokens["refresh_token"]})
    ).status_code == 401
    other_id, _ = await identity.register("parent")
    assert (await identity.client.post(f"/v1/accounts/{other_id}/deactivate", headers=h)).status_code in (401, 403)


async def test_no_event_carries_phone_name_or_id_number(identity, events):
    _, phone = await identity.register("parent")
    await identity.client.post("/v1/password-resets", json={"identifier": phone})
    await events.wait_for("cn.smartedu.identity.notification.requested.v1")
    wire = str(events.raw())
    assert "李明" not in wire and phone not in wire and "11010519491231002" not in wire
    forbidden = {"password", "code", "phone", "email", "name", "real_name", "national_id", "to"}
    assert all(not (forbidden & e.keys()) for e in events.raw())
