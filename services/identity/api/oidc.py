"""The OpenID Connect provider (discovery, JWKS, authorize with PKCE, consent, token, userinfo, logout) and its
relying parties' registration."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse
from pydantic import BaseModel, Field

from common import access
from common.auth import Principal, TokenError, optional_principal, require_principal
from identity.api.deps import first_party, identity
from identity.handlers import Identity
from identity.handlers.sso import OAuthError

router = APIRouter()

NO_STORE = {"Cache-Control": "no-store"}


class NewClient(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    redirect_uris: list[str] = Field(min_length=1, max_length=10)
    post_logout_redirect_uris: list[str] = Field(default_factory=list, max_length=10)
    public: bool = False


class Consent(BaseModel):
    client_id: str = Field(max_length=64)
    scope: str = Field(max_length=200, description="Space-separated scopes the user agrees to (openid included).")


@router.post("/v1/oidc-clients", status_code=201, tags=["sso"], summary="Register a relying party (ministry admin)")
@access.role(access.MINISTRY)
async def register_client(
    body: NewClient, who: Principal = Depends(require_principal), s: Identity = Depends(identity)
) -> dict[str, Any]:
    client, secret = await s.clients.register(
        who, body.name, body.redirect_uris, body.post_logout_redirect_uris, body.public
    )
    return {"client_id": client.client_id, "client_secret": secret, "redirect_uris": client.redirect_uris}


@router.post(
    "/v1/oidc-clients/{client_id}/deactivate", status_code=204, tags=["sso"], summary="Deactivate a relying party"
)
@access.role(access.MINISTRY)
async def deactivate_client(
    client_id: str, who: Principal = Depends(require_principal), s: Identity = Depends(identity)
) -> None:
    await s.clients.set_active(who, client_id, False)


@router.get("/.well-known/jwks.json", tags=["sso"])
@access.public()
async def jwks(s: Identity = Depends(identity)) -> JSONResponse:
    return JSONResponse(s.keys.jwks(), headers={"Cache-Control": "public, max-age=300"})


@router.get("/.well-known/openid-configuration", tags=["sso"])
@access.public()
async def discovery(s: Identity = Depends(identity)) -> dict[str, Any]:
    return s.sso.discovery()


def _redirect(uri: str, params: dict[str, str | None]) -> RedirectResponse:
    q = urlencode({k: v for k, v in params.items() if v is not None})
    return RedirectResponse(f"{uri}{'&' if '?' in uri else '?'}{q}", status_code=302)


@router.get("/oauth2/authorize", tags=["sso"], summary="Authorization code + PKCE (S256), after the user's consent")
@access.public(note="a signed-in first-party user gets a code; anyone else is redirected with an error")
async def authorize(
    client_id: str,
    redirect_uri: str,
    response_type: str = "code",
    scope: str = "openid",
    state: str | None = None,
    code_challenge: str | None = None,
    code_challenge_method: str | None = None,
    nonce: str | None = None,
    prompt: str | None = None,
    who: Principal | None = Depends(optional_principal),
    s: Identity = Depends(identity),
) -> RedirectResponse:
    params = await s.sso.authorize(
        who,
        client_id=client_id,
        redirect_uri=redirect_uri,
        response_type=response_type,
        scope=scope,
        code_challenge=code_challenge,
        code_challenge_method=code_challenge_method,
        nonce=nonce,
        prompt=prompt,
    )
    return _redirect(redirect_uri, {**params, "state": state})


@router.post("/oauth2/consent", tags=["sso"], summary="The user agrees to a relying party's scopes (recorded)")
@access.signed_in(note="the user's own first-party session; a relying party's token is refused")
async def consent(
    body: Consent, who: Principal = Depends(first_party), s: Identity = Depends(identity)
) -> dict[str, str]:
    return {"client_id": body.client_id, "scope": await s.sso.consent(who, body.client_id, body.scope)}


@router.delete("/oauth2/consent/{client_id}", status_code=204, tags=["sso"], summary="Withdraw a consent")
@access.signed_in(note="the user's own consent; a relying party's token is refused")
async def withdraw_consent(
    client_id: str, who: Principal = Depends(first_party), s: Identity = Depends(identity)
) -> None:
    await s.sso.withdraw(who, client_id)


def _client_credentials(
    request: Request, form_id: str | None, form_secret: str | None
) -> tuple[str | None, str | None]:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("basic "):
        try:
            cid, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
            return unquote(cid), unquote(secret)
        except ValueError:
            return None, None
    return form_id, form_secret


@router.post("/oauth2/token", tags=["sso"], summary="Token endpoint (application/x-www-form-urlencoded)")
@access.oauth_client()
async def token(request: Request, s: Identity = Depends(identity)) -> JSONResponse:
    # parsed here rather than with Form(): python-multipart is not a dependency and this endpoint never
    # takes multipart bodies
    form = {k: v[0] for k, v in parse_qs((await request.body()).decode("utf-8", "replace")).items()}
    client_id, secret = _client_credentials(request, form.get("client_id"), form.get("client_secret"))
    try:
        body = await s.sso.token(
            client_id,
            secret,
            grant_type=form.get("grant_type"),
            code=form.get("code"),
            redirect_uri=form.get("redirect_uri"),
            code_verifier=form.get("code_verifier"),
            refresh_token=form.get("refresh_token"),
        )
    except OAuthError as exc:
        error = {"error": exc.error, "error_description": exc.description}
        return JSONResponse(error, status_code=exc.status, headers=NO_STORE)
    return JSONResponse(body, headers=NO_STORE)


async def userinfo_principal(request: Request, s: Identity = Depends(identity)) -> Principal:
    """A relying party's access token (its own audience) or a platform one."""
    scheme, _, bearer = request.headers.get("authorization", "").partition(" ")
    try:
        if scheme.lower() != "bearer" or not bearer.strip():
            raise TokenError("missing", "A Bearer access token is required.")
        return await s.sso.userinfo_principal(bearer.strip())
    except TokenError as exc:
        raise exc.problem() from None


@router.get("/oauth2/userinfo", tags=["sso"])
@access.signed_in()
async def userinfo(who: Principal = Depends(userinfo_principal), s: Identity = Depends(identity)) -> dict[str, Any]:
    return await s.sso.userinfo(who)


@router.get("/oauth2/logout", tags=["sso"], summary="RP-initiated logout: ends the session (refresh family)")
@access.public()
async def end_session(
    id_token_hint: str | None = Query(None, max_length=4096),
    post_logout_redirect_uri: str | None = Query(None, max_length=2000),
    client_id: str | None = Query(None, max_length=64),
    state: str | None = Query(None, max_length=500),
    who: Principal | None = Depends(optional_principal),
    s: Identity = Depends(identity),
) -> Any:
    target = await s.sso.logout(who, id_token_hint, client_id, post_logout_redirect_uri)
    if target is None:
        return {"status": "logged_out"}
    return RedirectResponse(target + (f"?{urlencode({'state': state})}" if state else ""), status_code=302)
