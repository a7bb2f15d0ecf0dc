"""Accounts, sessions and password resets."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from common import access
from common.auth import Principal, require_principal
from common.errors import Limited
from common.observability import BusinessFigure
from common.problems import Problem
from identity.api.deps import LIMITED, client_ip, identity
from identity.domain.accounts import registration_identifiers
from identity.handlers import Identity
from identity.handlers.sessions import LoginFailed, RefreshRefused

router = APIRouter()
LOGINS = BusinessFigure(
    "identity_logins_total",
    "Password logins: success, failure (unknown account, wrong password, deactivated) or locked (429 of the "
    "failed-login lockout or rate limit)",
    "outcome",
    ("success", "failure", "locked"),
)

INVALID_LOGIN = Problem(401, "Login failed", "The identifier or the password is wrong.", code="invalid_credentials")


def refresh_refused(exc: RefreshRefused) -> Problem:
    return Problem(401, "Refresh token refused", code=f"refresh_{exc.reason}", reason=exc.reason)


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
async def register(body: Registration, request: Request, s: Identity = Depends(identity)) -> dict[str, str]:
    # every field's problem at once (the handler, which other callers reach too, stops at the first)
    _, problems = registration_identifiers(body.phone, body.email, body.password)
    if problems:
        raise Problem(
            422,
            "Invalid registration",
            f"{len(problems)} field(s) are invalid",
            errors=problems,
            code="validation-failed",
        )
    account = await s.accounts.register(
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
async def login(body: Login, request: Request, s: Identity = Depends(identity)) -> dict[str, Any]:
    try:
        tokens = await s.sessions.login(body.identifier, body.password, client_ip(request))
    except LoginFailed:
        LOGINS.count("failure")
        raise INVALID_LOGIN from None
    except Limited:
        LOGINS.count("locked")
        raise
    LOGINS.count("success")
    return tokens


@router.post("/v1/sessions/refresh", tags=["sessions"], summary="Rotate a refresh token")
@access.public(note="the refresh token is the credential")
async def refresh(body: RefreshBody, s: Identity = Depends(identity)) -> dict[str, Any]:
    try:
        return await s.sessions.refresh(body.refresh_token)
    except RefreshRefused as exc:
        raise refresh_refused(exc) from None


@router.post("/v1/sessions/logout", status_code=204, tags=["sessions"], summary="Log out (revokes the session)")
@access.public(note="the refresh token is the credential")
async def logout(body: RefreshBody, s: Identity = Depends(identity)) -> None:
    await s.sessions.logout(body.refresh_token)


@router.get("/v1/accounts/me", tags=["accounts"])
@access.signed_in()
async def me(who: Principal = Depends(require_principal), s: Identity = Depends(identity)) -> dict[str, Any]:
    return await s.accounts.my_profile(who)


@router.get("/v1/accounts/{user_id}", tags=["accounts"], summary="An account in the caller's subtree")
@access.account_admin()
async def account(
    user_id: str, who: Principal = Depends(require_principal), s: Identity = Depends(identity)
) -> dict[str, Any]:
    return await s.accounts.view(who, user_id)


@router.post("/v1/accounts/me/password", status_code=204, tags=["accounts"])
@access.signed_in()
async def change_password(
    body: PasswordChange, who: Principal = Depends(require_principal), s: Identity = Depends(identity)
) -> None:
    await s.accounts.change_password(who, body.current_password, body.new_password)


@router.post(
    "/v1/password-resets",
    status_code=202,
    tags=["accounts"],
    summary="Send a one-time code (same answer whether or not the account exists)",
    responses=LIMITED,
)
@access.public()
async def request_reset(body: ResetRequest, request: Request, s: Identity = Depends(identity)) -> dict[str, str]:
    await s.resets.request(body.identifier, client_ip(request))
    return {"status": "accepted"}


@router.post("/v1/password-resets/confirm", status_code=204, tags=["accounts"])
@access.public(note="the one-time code is the credential")
async def confirm_reset(body: ResetConfirm, s: Identity = Depends(identity)) -> None:
    await s.resets.confirm(body.identifier, body.code, body.new_password)


@router.post("/v1/accounts/{user_id}/deactivate", status_code=204, tags=["accounts"])
@access.account_admin()
async def deactivate(
    user_id: str, who: Principal = Depends(require_principal), s: Identity = Depends(identity)
) -> None:
    await s.accounts.deactivate(who, user_id)
