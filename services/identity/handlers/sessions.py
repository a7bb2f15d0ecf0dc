"""Sessions: login (one answer for an unknown identifier, a wrong password and an inactive account), the tokens of
a session (access, refresh, and an ID token for a relying party), refresh token rotation with reuse detection,
logout. A session is a refresh token family."""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import datetime
from typing import Any

from identity.domain import crypto, tokens
from identity.domain.accounts import Account
from identity.handlers.base import Handler, now

log = logging.getLogger("identity")


class LoginFailed(Exception):
    """The identifier or the password is wrong (or the account is not active): an authentication failure, which the
    edge answers with 401, the same for every cause."""


class RefreshRefused(Exception):
    """A refresh token refused (``reason``: a :class:`~identity.domain.tokens.RefreshOutcome` other than ok)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Sessions(Handler):
    async def login(self, identifier: str, password: str, client_ip: str) -> dict[str, Any]:
        identity = self.identity
        key, account = await identity.accounts.account_for(identifier)
        t = now().timestamp()
        attempt = await identity.limits.begin_login(key, client_ip, t)  # Limited when locked
        ok = await asyncio.to_thread(identity.passwords.verify, account.password_hash if account else None, password)
        if not ok or account is None or not account.active:
            await identity.limits.login_failed(attempt, t)
            raise LoginFailed
        await identity.limits.login_succeeded(attempt)
        if identity.passwords.needs_rehash(account.password_hash):
            # only over the hash just verified: a password changed meanwhile is never undone by the rehash
            await self.store.accounts.update(
                account.id,
                fields={"password_hash": await asyncio.to_thread(identity.passwords.hash, password)},
                where={"password_hash": account.password_hash},
            )
        return await self.issue(account, family=uuid.uuid4().hex, auth_time=now())

    async def issue(
        self,
        account: Account,
        *,
        family: str,
        auth_time: datetime,
        client_id: str | None = None,
        scope: str | None = None,
        nonce: str | None = None,
    ) -> dict[str, Any]:
        ring, policy = self.identity.ring, self.identity.policy
        t = now()
        # A relying party gets a token for its own audience with the claims of the scopes granted to it only:
        # the roles with the ``roles`` scope, the account kind with ``profile``.
        granted = set(scope.split()) if scope else set()
        access, _ = tokens.issue_access_token(
            ring,
            policy,
            subject=account.id,
            roles=account.roles if client_id is None or "roles" in granted else [],
            kind=account.kind if client_id is None or "profile" in granted else None,
            now=t,
            client_id=client_id,
            scope=scope,
            session=family,
        )
        refresh = tokens.new_secret()
        await self.store.sessions.save_refresh(
            tokens.RefreshToken(
                crypto.token_digest(refresh), family, account.id, client_id, scope, t, t + policy.refresh_ttl, auth_time
            )
        )
        out: dict[str, Any] = {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": int(policy.access_ttl.total_seconds()),
            "refresh_token": refresh,
        }
        if client_id and scope and "openid" in scope.split():
            out["id_token"] = tokens.issue_id_token(
                ring,
                policy,
                subject=account.id,
                client_id=client_id,
                nonce=nonce,
                now=t,
                auth_time=auth_time,
                extra={"sid": family},  # RP-initiated logout names the session to end with it
            )
        if scope:
            out["scope"] = scope
        return out

    async def refresh(self, refresh_token: str, client_id: str | None = None) -> dict[str, Any]:
        sessions = self.store.sessions
        digest = crypto.token_digest(refresh_token)
        record = await sessions.refresh(digest)
        revoked = record is not None and await sessions.family_revoked(record.family)
        first_use = record is not None and not revoked and await sessions.mark_refresh_used(digest)
        outcome = tokens.judge_refresh(
            record, family_revoked=revoked, already_used=not first_use, now=now(), client_id=client_id
        )
        if outcome == tokens.RefreshOutcome.REUSED and record is not None:
            await sessions.revoke_family(record.family, "reuse")
            log.warning("refresh token reuse: family %s revoked", record.family)
        if outcome != tokens.RefreshOutcome.OK or record is None:
            raise RefreshRefused(outcome)
        account = await self.store.accounts.account(record.user_id)
        if (
            account is None
            or not account.active
            # a password change or reset ends every session that began before it
            or (account.password_changed_at is not None and record.auth_time < account.password_changed_at)
        ):
            raise RefreshRefused("revoked")
        return await self.issue(
            account, family=record.family, auth_time=record.auth_time, client_id=record.client_id, scope=record.scope
        )

    async def logout(self, refresh_token: str) -> None:
        record = await self.store.sessions.refresh(crypto.token_digest(refresh_token))
        if record is not None:
            await self.store.sessions.revoke_family(record.family, "logout")
