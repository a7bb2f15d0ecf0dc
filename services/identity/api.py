"""Identity's HTTP API: accounts and sessions, orgs and roles, teacher verification, guardian links, and the
OpenID Connect provider (discovery, authorize with PKCE, token, userinfo, logout, JWKS)."""

from __future__ import annotations

import base64
from datetime import date
from typing import Any, Literal
from urllib.parse import parse_qs, urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse
from pydantic import BaseModel, Field

from common import access
from common.auth import (
    MINISTRY_ADMIN,
    Principal,
    TokenError,
    optional_principal,
    require_principal,
    require_role,
)
from common.network import forwarded_client_ip
from common.problems import Problem
from identity.domain import crypto, oidc, orgs
from identity.service import IdentityService, now
from identity.sso import Sso

router = APIRouter()


def svc(request: Request) -> IdentityService:
    return request.app.state.identity


def sso_of(request: Request) -> Sso:
    return request.app.state.sso


def client_ip(request: Request) -> str:
    return forwarded_client_ip(request) or "unknown"  # X-Forwarded-For only as far as TRUSTED_PROXY_HOPS


# answered by the routes whose requests are counted (limits.py)
LIMITED = {429: {"description": "Rate limited or locked: a problem+json with `Retry-After` (seconds)"}}


# --- accounts and sessions ----------------------------------------------------------------------------------
class Registration(BaseModel):
    phone: str | None = Field(None, max_length=20)
    email: str | None = Field(None, max_length=254)
    password: str = Field(max_length=128)
    real_name: str = Field(min_length=1, max_length=50)
    kind: Literal["student", "teacher", "parent"]
    birth_date: date | None = None


class Login(BaseModel):
    identifier: str = Field(min_length=3, max_length=254, description="Phone number or e-mail address.")
    password: str = Field(min_length=1, max_length=128)


class RefreshBody(BaseModel):
    refresh_token: str = Field(min_length=10, max_length=200)


class PasswordChange(BaseModel):
    current_password: str = Field(max_length=128)
    new_password: str = Field(max_length=128)


class ResetRequest(BaseModel):
    identifier: str = Field(min_length=3, max_length=254)


class ResetConfirm(BaseModel):
    identifier: str = Field(min_length=3, max_length=254)
    code: str = Field(pattern=r"^\d{6}$")
    new_password: str = Field(max_length=128)


@router.post("/v1/accounts", status_code=201, tags=["accounts"], summary="Register (实名注册)", responses=LIMITED)
@access.public()
async def register(body: Registration, request: Request, s: IdentityService = Depends(svc)) -> dict[str, str]:
    account = await s.register(
        phone=body.phone,
        email=body.email,
        password=body.password,
        real_name=body.real_name,
        kind=body.kind,
        birth_date=body.birth_date,
        client_ip=client_ip(request),
    )
    return {"user_id": account.id}


@router.post("/v1/sessions", tags=["sessions"], summary="Log in", responses=LIMITED)
@access.public()
async def login(body: Login, request: Request, s: IdentityService = Depends(svc)) -> dict[str, Any]:
    return await s.login(body.identifier, body.password, client_ip(request))


@router.post("/v1/sessions/refresh", tags=["sessions"], summary="Rotate a refresh token")
@access.public(note="the refresh token is the credential")
async def refresh(body: RefreshBody, s: IdentityService = Depends(svc)) -> dict[str, Any]:
    return await s.refresh(body.refresh_token)


@router.post("/v1/sessions/logout", status_code=204, tags=["sessions"], summary="Log out (revokes the session)")
@access.public(note="the refresh token is the credential")
async def logout(body: RefreshBody, s: IdentityService = Depends(svc)) -> None:
    await s.logout(body.refresh_token)


@router.get("/v1/accounts/me", tags=["accounts"])
@access.signed_in()
async def me(who: Principal = Depends(require_principal), s: IdentityService = Depends(svc)) -> dict[str, Any]:
    return s.profile(await s.me(who))


@router.get("/v1/accounts/{user_id}", tags=["accounts"], summary="An account in the caller's subtree")
@access.account_admin()
async def account(
    user_id: str, who: Principal = Depends(require_principal), s: IdentityService = Depends(svc)
) -> dict[str, Any]:
    return await s.view(who, user_id)


@router.post("/v1/accounts/me/password", status_code=204, tags=["accounts"])
@access.signed_in()
async def change_password(
    body: PasswordChange, who: Principal = Depends(require_principal), s: IdentityService = Depends(svc)
) -> None:
    await s.change_password(who, body.current_password, body.new_password)


@router.post(
    "/v1/password-resets",
    status_code=202,
    tags=["accounts"],
    summary="Send a one-time code (same answer whether or not the account exists)",
    responses=LIMITED,
)
@access.public()
async def request_reset(body: ResetRequest, request: Request, s: IdentityService = Depends(svc)) -> dict[str, str]:
    await s.request_reset(body.identifier, client_ip(request))
    return {"status": "accepted"}


@router.post("/v1/password-resets/confirm", status_code=204, tags=["accounts"])
@access.public(note="the one-time code is the credential")
async def confirm_reset(body: ResetConfirm, s: IdentityService = Depends(svc)) -> None:
    await s.confirm_reset(body.identifier, body.code, body.new_password)


@router.post("/v1/accounts/{user_id}/deactivate", status_code=204, tags=["accounts"])
@access.account_admin()
async def deactivate(
    user_id: str, who: Principal = Depends(require_principal), s: IdentityService = Depends(svc)
) -> None:
    await s.deactivate(who, user_id)


# --- orgs and roles -----------------------------------------------------------------------------------------
class RoleChange(BaseModel):
    user_id: str = Field(pattern=r"^u_[0-9a-f]{32}$")
    role: str = Field(max_length=40)
    org: str | None = Field(None, max_length=200)


class NewOrg(BaseModel):
    parent: str = Field(max_length=200)
    code: str = Field(max_length=40)
    name: str = Field(min_length=1, max_length=100)
    level: Literal["city", "county", "school"]


def _node(n: orgs.OrgNode) -> dict[str, str]:
    return {"path": n.path, "name": n.name, "level": n.level.value}


@router.get("/v1/orgs", tags=["orgs"], summary="The subtrees the caller administers")
@access.role(*access.ADMINS, note="lists only the subtrees the caller administers")
async def my_orgs(
    who: Principal = Depends(require_role(*orgs.ADMIN_ROLE_LEVEL, MINISTRY_ADMIN, any_scope=True)),
    s: IdentityService = Depends(svc),
) -> list[dict[str, str]]:
    return [_node(s.tree.nodes[p]) for p in s.tree.visible_to(who) if p in s.tree.nodes]


@router.get("/v1/orgs/{path:path}", tags=["orgs"], summary="A node and its children")
@access.role(*access.ADMINS, target="path.path")
async def org(
    path: str, who: Principal = Depends(require_principal), s: IdentityService = Depends(svc)
) -> dict[str, Any]:
    node = s.tree.get(path)
    if node is None:
        raise Problem(404, "Organisation not found", code="org_not_found")
    who.require(*orgs.ADMIN_ROLE_LEVEL, MINISTRY_ADMIN, org=path)
    return {**_node(node), "children": [_node(s.tree.nodes[c]) for c in s.tree.children.get(path, [])]}


@router.post("/v1/orgs", status_code=201, tags=["orgs"])
@access.role(*access.ADMINS, target="body.parent")
async def add_org(
    body: NewOrg, who: Principal = Depends(require_principal), s: IdentityService = Depends(svc)
) -> dict[str, str]:
    return _node(await s.add_org(who, body.parent, body.code, body.name, orgs.Level(body.level)))


class RoleChangeResult(BaseModel):
    changed: bool
    status: Literal["granted", "revoked", "unchanged", "invited"]
    """``invited``: the account belongs to no organisation yet; the grant waits for it to accept."""


def _role_result(status: str) -> RoleChangeResult:
    return RoleChangeResult(changed=status in ("granted", "revoked"), status=status)  # type: ignore[arg-type]


@router.post(
    "/v1/role-grants",
    tags=["roles"],
    summary="Grant a role scoped to an org node (audited); an account outside every org is invited instead",
)
@access.role_grantor()
async def grant(
    body: RoleChange, who: Principal = Depends(require_principal), s: IdentityService = Depends(svc)
) -> RoleChangeResult:
    return _role_result(await s.change_role(who, body.user_id, body.role, body.org, grant=True))


@router.post("/v1/role-revocations", tags=["roles"], summary="Revoke a role (audited)")
@access.role_grantor()
async def revoke(
    body: RoleChange, who: Principal = Depends(require_principal), s: IdentityService = Depends(svc)
) -> RoleChangeResult:
    return _role_result(await s.change_role(who, body.user_id, body.role, body.org, grant=False))


class InvitationAnswer(BaseModel):
    role: str = Field(max_length=40)
    org: str | None = Field(None, max_length=200)


@router.get("/v1/accounts/me/invitations", tags=["roles"], summary="Roles offered to me, waiting for my consent")
@access.signed_in()
async def invitations(
    who: Principal = Depends(require_principal), s: IdentityService = Depends(svc)
) -> list[dict[str, str]]:
    return await s.invitations(who)


@router.post("/v1/accounts/me/invitations/accept", tags=["roles"], summary="Accept a role offered to me")
@access.signed_in(note="only the account's own invitations; granted only if the inviter still may grant it")
async def accept_invitation(
    body: InvitationAnswer, who: Principal = Depends(require_principal), s: IdentityService = Depends(svc)
) -> RoleChangeResult:
    return _role_result(await s.answer_invitation(who, body.role, body.org, accept=True))


@router.post(
    "/v1/accounts/me/invitations/decline", status_code=204, tags=["roles"], summary="Decline a role offered to me"
)
@access.signed_in(note="only the account's own invitations")
async def decline_invitation(
    body: InvitationAnswer, who: Principal = Depends(require_principal), s: IdentityService = Depends(svc)
) -> None:
    await s.answer_invitation(who, body.role, body.org, accept=False)


@router.post("/v1/admin/signing-keys/rotate", tags=["tokens"], summary="Rotate the token signing key now")
@access.role(access.MINISTRY)
async def rotate(
    who: Principal = Depends(require_role(MINISTRY_ADMIN)), s: IdentityService = Depends(svc)
) -> dict[str, str]:
    kid = await s.rotate_keys()
    await s.store.audit(who.subject, "keys.rotate", kid)
    return {"active_kid": kid}


# --- teachers and guardians ----------------------------------------------------------------------------------
class TeacherVerification(BaseModel):
    national_id: str = Field(min_length=18, max_length=18)


@router.post("/v1/teacher-verifications", tags=["teachers"], summary="Real-name verification (教师实名认证)")
@access.account_kind("teacher")
async def verify_teacher(
    body: TeacherVerification, who: Principal = Depends(require_principal), s: IdentityService = Depends(svc)
) -> dict[str, str]:
    return {"outcome": await s.verify_teacher(who, body.national_id)}


class LinkRequest(BaseModel):
    child_id: str = Field(pattern=r"^u_[0-9a-f]{32}$")


@router.post("/v1/guardian-links", status_code=201, tags=["guardians"])
@access.account_kind("parent")
async def request_link(
    body: LinkRequest, who: Principal = Depends(require_principal), s: IdentityService = Depends(svc)
) -> dict[str, str]:
    link = await s.request_link(who, body.child_id)
    return {"parent_id": link.parent_id, "child_id": link.child_id, "status": link.status}


@router.post("/v1/guardian-links/{child_id}/{parent_id}/approve", tags=["guardians"])
@access.guardian_approver()
async def approve_link(
    child_id: str, parent_id: str, who: Principal = Depends(require_principal), s: IdentityService = Depends(svc)
) -> dict[str, str]:
    link = await s.approve_link(who, parent_id, child_id)
    return {"status": link.status, "approver_role": link.approver_role or ""}


# --- OpenID Connect provider -----------------------------------------------------------------------------------
class NewClient(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    redirect_uris: list[str] = Field(min_length=1, max_length=10)
    post_logout_redirect_uris: list[str] = Field(default_factory=list, max_length=10)
    public: bool = False


@router.post("/v1/oidc-clients", status_code=201, tags=["sso"], summary="Register a relying party (ministry admin)")
@access.role(access.MINISTRY)
async def register_client(
    body: NewClient, who: Principal = Depends(require_principal), s: IdentityService = Depends(svc)
) -> dict[str, Any]:
    client, secret = await s.register_client(
        who, body.name, body.redirect_uris, body.post_logout_redirect_uris, body.public
    )
    return {"client_id": client.client_id, "client_secret": secret, "redirect_uris": client.redirect_uris}


@router.post(
    "/v1/oidc-clients/{client_id}/deactivate", status_code=204, tags=["sso"], summary="Deactivate a relying party"
)
@access.role(access.MINISTRY)
async def deactivate_client(
    client_id: str, who: Principal = Depends(require_principal), sso: Sso = Depends(sso_of)
) -> None:
    await sso.set_client_active(who, client_id, False)


@router.get("/.well-known/jwks.json", tags=["sso"])
@access.public()
async def jwks(s: IdentityService = Depends(svc)) -> JSONResponse:
    return JSONResponse(s.ring.jwks(now()), headers={"Cache-Control": "public, max-age=300"})


@router.get("/.well-known/openid-configuration", tags=["sso"])
@access.public()
async def discovery(s: IdentityService = Depends(svc)) -> dict[str, Any]:
    iss = s.s.issuer
    return {
        "issuer": iss,
        "authorization_endpoint": f"{iss}/oauth2/authorize",
        "token_endpoint": f"{iss}/oauth2/token",
        "userinfo_endpoint": f"{iss}/oauth2/userinfo",
        "jwks_uri": f"{iss}/.well-known/jwks.json",
        "end_session_endpoint": f"{iss}/oauth2/logout",
        "response_types_supported": ["code"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["EdDSA"],
        "scopes_supported": list(oidc.SUPPORTED_SCOPES),
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": ["sub", "name", "roles", "kind"],
    }


def _oauth_error(error: str, description: str, status: int = 400) -> JSONResponse:
    return JSONResponse(
        {"error": error, "error_description": description}, status_code=status, headers={"Cache-Control": "no-store"}
    )


@router.get("/oauth2/authorize", tags=["sso"], summary="Authorization code + PKCE (S256), after the user's consent")
@access.public(note="a signed-in first-party user gets a code; anyone else is redirected with an error")
async def authorize(
    request: Request,
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
    sso: Sso = Depends(sso_of),
) -> RedirectResponse:
    client = await sso.active_client(client_id)
    if client is None or redirect_uri not in client.redirect_uris:
        raise Problem(400, "Unknown client or redirect URI", code="invalid_client")  # never redirect then

    def back(**params: str | None) -> RedirectResponse:
        q = urlencode({k: v for k, v in {**params, "state": state}.items() if v is not None})
        return RedirectResponse(f"{redirect_uri}{'&' if '?' in redirect_uri else '?'}{q}", status_code=302)

    if response_type != "code":
        return back(error="unsupported_response_type")
    if not code_challenge or code_challenge_method != "S256":
        return back(error="invalid_request", error_description="PKCE S256 is required")
    granted = oidc.narrow_scope(scope, client.allowed_scopes)
    if granted is None:
        return back(error="invalid_scope")
    if who is None or who.client_id is not None:
        # only the platform's own login authorizes (never a relying party's token); the platform's login page
        # would take over here, APIs answer with the standard error
        return back(error="login_required")
    bearer = request.headers.get("authorization", "").partition(" ")[2].strip()
    if not await sso.session_live(who, bearer):
        return back(error="login_required")  # a token of a session a password change or a logout ended
    missing = await sso.missing_consent(who, client, granted)
    if missing:
        if prompt == "none":
            return back(error="consent_required")
        raise Problem(
            403,
            "Consent required",
            f"{client.name} asks for: {' '.join(sorted(missing))}. Answer with POST /oauth2/consent, then retry.",
            code="consent_required",
            client_id=client.client_id,
            client_name=client.name,
            scope=granted,
            consent_endpoint="/oauth2/consent",
        )
    return back(code=await sso.new_code(who, bearer, client, redirect_uri, granted, code_challenge, nonce))


class Consent(BaseModel):
    client_id: str = Field(max_length=64)
    scope: str = Field(max_length=200, description="Space-separated scopes the user agrees to (openid included).")


@router.post("/oauth2/consent", tags=["sso"], summary="The user agrees to a relying party's scopes (recorded)")
@access.signed_in(note="the user's own first-party session; a relying party's token is refused")
async def consent(
    body: Consent, who: Principal = Depends(require_principal), sso: Sso = Depends(sso_of)
) -> dict[str, str]:
    return {"client_id": body.client_id, "scope": await sso.consent(who, body.client_id, body.scope)}


@router.delete("/oauth2/consent/{client_id}", status_code=204, tags=["sso"], summary="Withdraw a consent")
@access.signed_in(note="the user's own consent; a relying party's token is refused")
async def withdraw_consent(
    client_id: str, who: Principal = Depends(require_principal), sso: Sso = Depends(sso_of)
) -> None:
    await sso.withdraw(who, client_id)


def _client_credentials(
    request: Request, form_id: str | None, form_secret: str | None
) -> tuple[str | None, str | None]:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("basic "):
        try:
            from urllib.parse import unquote

            cid, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
            return unquote(cid), unquote(secret)
        except ValueError:
            return None, None
    return form_id, form_secret


@router.post("/oauth2/token", tags=["sso"], summary="Token endpoint (application/x-www-form-urlencoded)")
@access.oauth_client()
async def token(request: Request, s: IdentityService = Depends(svc), sso: Sso = Depends(sso_of)) -> JSONResponse:
    # parsed here rather than with Form(): python-multipart is not a dependency and this endpoint never
    # takes multipart bodies
    form = {k: v[0] for k, v in parse_qs((await request.body()).decode("utf-8", "replace")).items()}
    grant_type, code, redirect_uri = form.get("grant_type"), form.get("code"), form.get("redirect_uri")
    code_verifier, refresh_token = form.get("code_verifier"), form.get("refresh_token")
    client_id, client_secret = form.get("client_id"), form.get("client_secret")
    cid, secret = _client_credentials(request, client_id, client_secret)
    client = await sso.active_client(cid)  # a deactivated client gets nothing more, not even a refresh
    if client is None or not client.check_secret(crypto.token_digest(secret) if secret else None):
        return _oauth_error("invalid_client", "client authentication failed", 401)
    if grant_type == "authorization_code":
        body = await sso.exchange_code(client, code, redirect_uri, code_verifier)
        if body is None:
            return _oauth_error("invalid_grant", "code invalid, used, expired, PKCE mismatch or session ended")
        return JSONResponse(body, headers={"Cache-Control": "no-store"})
    if grant_type == "refresh_token" and refresh_token:
        try:
            body = await s.refresh(refresh_token, client_id=client.client_id)
        except Problem:
            return _oauth_error("invalid_grant", "refresh token refused")
        return JSONResponse(body, headers={"Cache-Control": "no-store"})
    return _oauth_error("unsupported_grant_type", grant_type)


async def userinfo_principal(request: Request, sso: Sso = Depends(sso_of)) -> Principal:
    """A relying party's access token (its own audience) or a platform one."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise TokenError("missing", "A Bearer access token is required.").problem()
    return await sso.userinfo_principal(token.strip())


@router.get("/oauth2/userinfo", tags=["sso"])
@access.signed_in()
async def userinfo(who: Principal = Depends(userinfo_principal), s: IdentityService = Depends(svc)) -> dict[str, Any]:
    account = await s.me(who)
    scopes = who.scope.split() if who.scope is not None else ["openid", "profile", "roles"]
    out: dict[str, Any] = {"sub": account.id, "kind": account.kind}
    if "profile" in scopes:
        out["name"] = s.vault.decrypt(account.name_enc, field="name", owner=account.id)
    if "roles" in scopes:
        out["roles"] = [r.claim() for r in account.roles]
    return out


@router.get("/oauth2/logout", tags=["sso"], summary="RP-initiated logout: ends the session (refresh family)")
@access.public()
async def end_session(
    request: Request,
    id_token_hint: str | None = Query(None, max_length=4096),
    post_logout_redirect_uri: str | None = Query(None, max_length=2000),
    client_id: str | None = Query(None, max_length=64),
    state: str | None = Query(None, max_length=500),
    who: Principal | None = Depends(optional_principal),
    sso: Sso = Depends(sso_of),
) -> Any:
    bearer = request.headers.get("authorization", "").partition(" ")[2].strip() if who is not None else None
    client_id = await sso.logout(id_token_hint, bearer, client_id)
    if post_logout_redirect_uri:
        client = await sso.active_client(client_id)
        if client is None or post_logout_redirect_uri not in client.post_logout_redirect_uris:
            raise Problem(400, "Unregistered post-logout redirect URI", code="invalid_request")
        q = urlencode({"state": state}) if state else ""
        return RedirectResponse(post_logout_redirect_uri + (f"?{q}" if q else ""), status_code=302)
    return {"status": "logged_out"}
