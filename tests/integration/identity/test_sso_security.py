"""The OIDC provider against a relying party that misbehaves or is compromised (issue 13, holes 4 and 13): its
tokens are for its own audience with the granted scopes' claims only, and the platform refuses them; only a
first-party session with the user's recorded consent authorizes; logout ends the session; a deactivated client
gets nothing; a malformed PKCE verifier is an invalid_grant."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from common.auth import AuthSettings, TokenError, TokenVerifier
from tests.integration.identity.conftest import ISSUER

pytestmark = pytest.mark.integration

SCHOOL = "cn/43/4301/430102/school-430102001"
RP = "https://rp.example.cn/callback"
BYE = "https://rp.example.cn/bye"
VERIFIER = "a-pkce-code-verifier-of-at-least-43-characters-0123456789"
CHALLENGE = base64.urlsafe_b64encode(hashlib.sha256(VERIFIER.encode()).digest()).rstrip(b"=").decode()


def claims(jwt: str) -> dict:
    return json.loads(base64.urlsafe_b64decode(jwt.split(".")[1] + "=="))


async def new_client(identity) -> tuple[str, str, dict[str, str]]:
    admin_id, admin_phone = await identity.register("teacher")
    await identity.make(admin_id, "ministry_admin")
    admin = await identity.bearer(admin_phone)
    r = await identity.client.post(
        "/v1/oidc-clients",
        headers=admin,
        json={"name": "第三方应用", "redirect_uris": [RP], "post_logout_redirect_uris": [BYE]},
    )
    assert r.status_code == 201, r.text
    return r.json()["client_id"], r.json()["client_secret"], admin


def authorize_params(client_id: str, scope: str, **extra: str) -> dict[str, str]:
    return {
        "client_id": client_id,
        "redirect_uri": RP,
        "response_type": "code",
        "scope": scope,
        "state": "st",
        "code_challenge": CHALLENGE,
        "code_challenge_method": "S256",
        **extra,
    }


async def code_for(identity, user: dict[str, str], client_id: str, scope: str) -> str:
    r = await identity.client.get("/oauth2/authorize", headers=user, params=authorize_params(client_id, scope))
    if r.status_code == 403:
        assert r.json()["code"] == "consent_required"
        agreed = await identity.client.post(
            "/oauth2/consent", headers=user, json={"client_id": client_id, "scope": scope}
        )
        assert agreed.status_code == 200, agreed.text
        r = await identity.client.get("/oauth2/authorize", headers=user, params=authorize_params(client_id, scope))
    assert r.status_code == 302, r.text
    return parse_qs(urlparse(r.headers["location"]).query)["code"][0]


async def exchange(identity, client_id: str, secret: str, code: str, verifier: str = VERIFIER) -> httpx.Response:
    return await identity.client.post(
        "/oauth2/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": RP,
            "code_verifier": verifier,
            "client_id": client_id,
            "client_secret": secret,
        },
    )


async def refresh_at_token_endpoint(identity, client_id: str, secret: str, refresh_token: str) -> httpx.Response:
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": client_id}
    return await identity.client.post("/oauth2/token", data={**form, "client_secret": secret})


async def rp_tokens(identity, user: dict[str, str], client_id: str, secret: str, scope: str) -> dict:
    r = await exchange(identity, client_id, secret, await code_for(identity, user, client_id, scope))
    assert r.status_code == 200, r.text
    return r.json()


async def test_a_relying_partys_token_is_for_its_audience_with_the_granted_claims_only(identity):
    client_id, secret, _ = await new_client(identity)
    user_id, phone = await identity.register("student")
    await identity.make(user_id, "student", SCHOOL)
    user = await identity.bearer(phone)

    narrow = await rp_tokens(identity, user, client_id, secret, "openid")
    c = claims(narrow["access_token"])
    assert c["aud"] == client_id and c["roles"] == [] and c.get("kind") is None
    rp = {"Authorization": f"Bearer {narrow['access_token']}"}
    info = await identity.client.get("/oauth2/userinfo", headers=rp)
    assert info.status_code == 200 and info.json()["sub"] == user_id
    assert "name" not in info.json() and "roles" not in info.json()

    wide = await rp_tokens(identity, user, client_id, secret, "openid profile roles")
    assert claims(wide["access_token"])["roles"] == [f"student@{SCHOOL}"]
    rp_wide = {"Authorization": f"Bearer {wide['access_token']}"}
    # the platform refuses it: identity's own routes, and the verifier every service runs (common.auth)
    me = await identity.client.get("/v1/accounts/me", headers=rp_wide)
    assert me.status_code == 401 and me.json()["reason"] == "invalid"
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=identity.app), base_url=ISSUER) as http:
        verifier = TokenVerifier.from_settings(
            AuthSettings(jwks_url=f"{ISSUER}/.well-known/jwks.json", issuer=ISSUER, audience="smartedu-api"), http
        )
        with pytest.raises(TokenError) as refused:
            await verifier.verify(wide["access_token"])
        assert refused.value.reason == "invalid"
        assert (await verifier.verify(user["Authorization"][7:])).subject == user_id  # a platform token passes


async def test_authorize_takes_only_a_first_party_session_and_the_users_recorded_consent(identity):
    client_id, secret, _ = await new_client(identity)
    _, phone = await identity.register("parent")
    user = await identity.bearer(phone)

    asked = await identity.client.get("/oauth2/authorize", headers=user, params=authorize_params(client_id, "openid"))
    assert asked.status_code == 403 and asked.json()["code"] == "consent_required"
    silent = await identity.client.get(
        "/oauth2/authorize", headers=user, params=authorize_params(client_id, "openid", prompt="none")
    )
    assert silent.status_code == 302 and "error=consent_required" in silent.headers["location"]
    assert "code=" not in silent.headers["location"]

    tokens = await rp_tokens(identity, user, client_id, secret, "openid")
    # consent covers the scopes agreed to, not more
    more = await identity.client.get(
        "/oauth2/authorize", headers=user, params=authorize_params(client_id, "openid profile")
    )
    assert more.status_code == 403 and more.json()["code"] == "consent_required"

    # a relying party's token cannot authorize anything (not even for itself)
    stolen = await identity.client.get(
        "/oauth2/authorize",
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
        params=authorize_params(client_id, "openid"),
    )
    assert stolen.status_code in (302, 401)
    assert "code=" not in stolen.headers.get("location", "")
    # nor give consent
    assert (
        await identity.client.post(
            "/oauth2/consent",
            headers={"Authorization": f"Bearer {tokens['access_token']}"},
            json={"client_id": client_id, "scope": "openid profile roles"},
        )
    ).status_code == 401

    # withdrawn consent is asked again
    assert (await identity.client.delete(f"/oauth2/consent/{client_id}", headers=user)).status_code == 204
    again = await identity.client.get("/oauth2/authorize", headers=user, params=authorize_params(client_id, "openid"))
    assert again.status_code == 403


async def test_logout_ends_the_session_of_the_relying_party_and_of_the_platform(identity):
    client_id, secret, _ = await new_client(identity)
    _, phone = await identity.register("teacher")
    first_party = await identity.login(phone)
    user = {"Authorization": f"Bearer {first_party['access_token']}"}
    tokens = await rp_tokens(identity, user, client_id, secret, "openid")

    bad = await identity.client.get("/oauth2/logout", params={"id_token_hint": tokens["access_token"][:-4] + "AAAA"})
    assert bad.status_code == 400
    bye = await identity.client.get(
        "/oauth2/logout", params={"id_token_hint": tokens["id_token"], "post_logout_redirect_uri": BYE, "state": "s"}
    )
    assert bye.status_code == 302 and bye.headers["location"] == f"{BYE}?state=s"
    refresh = await refresh_at_token_endpoint(identity, client_id, secret, tokens["refresh_token"])
    assert refresh.status_code == 400 and refresh.json()["error"] == "invalid_grant"
    platform = await identity.client.post("/v1/sessions/refresh", json={"refresh_token": first_party["refresh_token"]})
    assert platform.status_code == 401


async def test_a_deactivated_client_gets_no_tokens(identity):
    client_id, secret, admin = await new_client(identity)
    _, phone = await identity.register("parent")
    user = await identity.bearer(phone)
    tokens = await rp_tokens(identity, user, client_id, secret, "openid")
    code = await code_for(identity, user, client_id, "openid")

    assert (await identity.client.post(f"/v1/oidc-clients/{client_id}/deactivate", headers=user)).status_code == 403
    off = await identity.client.post(f"/v1/oidc-clients/{client_id}/deactivate", headers=admin)
    assert off.status_code == 204
    exchanged = await exchange(identity, client_id, secret, code)
    assert exchanged.status_code == 401 and exchanged.json()["error"] == "invalid_client"
    refreshed = await refresh_at_token_endpoint(identity, client_id, secret, tokens["refresh_token"])
    assert refreshed.status_code == 401 and refreshed.json()["error"] == "invalid_client"
    assert (
        await identity.client.get("/oauth2/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    ).status_code == 401


@pytest.mark.parametrize("verifier", ["é" * 50, "v" * 42 + "✓", "a" * 129, "space in the verifier " * 3])
async def test_a_malformed_code_verifier_is_an_invalid_grant(identity, verifier):
    client_id, secret, _ = await new_client(identity)
    _, phone = await identity.register("parent")
    code = await code_for(identity, await identity.bearer(phone), client_id, "openid")
    r = await exchange(identity, client_id, secret, code, verifier=verifier)
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"


async def test_a_token_of_a_session_a_password_change_ended_cannot_start_a_relying_partys_session(identity):
    """The password change revokes the refresh tokens at once, but the access token stays valid for its 10 minutes
    (offline verification): it must not mint an authorization code whose tokens would outlive the change."""
    client_id, _, _ = await new_client(identity)
    _, phone = await identity.register("teacher")
    stolen = await identity.bearer(phone)
    await code_for(identity, stolen, client_id, "openid")  # consent recorded; the session authorizes
    await asyncio.sleep(1.1)  # tokens carry whole seconds: the change comes a second after the stolen token
    changed = await identity.client.post(
        "/v1/accounts/me/password",
        headers=stolen,
        json={"current_password": "Correct-Horse-9", "new_password": "Other-Horse-42"},
    )
    assert changed.status_code == 204
    r = await identity.client.get("/oauth2/authorize", headers=stolen, params=authorize_params(client_id, "openid"))
    assert r.status_code == 302 and parse_qs(urlparse(r.headers["location"]).query)["error"] == ["login_required"]
    fresh = await identity.login(phone, "Other-Horse-42")  # a session begun after the change authorizes
    assert await code_for(identity, {"Authorization": f"Bearer {fresh['access_token']}"}, client_id, "openid")
