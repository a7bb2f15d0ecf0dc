"""The OpenID Connect provider's use cases: consent, authorization codes, the token exchange, userinfo's token
check, RP-initiated logout, client deactivation. The routes in ``api.py`` speak the protocol over these.

- Only a **first-party session** authorizes: an access token identity's own login issued for the platform
  audience (no ``client_id``). A relying party's token never does (its audience is the party itself, so identity's
  verifier refuses it; older ones carry ``client_id`` and are refused here).
- **Consent** is recorded per (user, client) as the set of scopes the user agreed to; a request for a scope
  not agreed to yet is answered ``consent_required`` (the platform's front end asks, then posts the answer).
- A relying party's tokens **join the first-party session** (same refresh family, ``sid`` in the ID token):
  logging out of either ends both.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from common.auth import MINISTRY_ADMIN, Principal, TokenError, TokenVerifier
from common.problems import Problem
from identity.domain import crypto, oidc, tokens
from identity.service import IdentityService, now


class Sso:
    def __init__(self, identity: IdentityService) -> None:
        self.identity = identity
        self.store = identity.store

    async def active_client(self, client_id: str | None) -> oidc.Client | None:
        client = await self.store.client(client_id) if client_id else None
        return client if client is not None and client.active else None

    # --- consent --------------------------------------------------------------------------------------------
    @staticmethod
    def first_party(who: Principal | None) -> Principal:
        if who is None or who.client_id is not None:
            raise Problem(401, "Platform login required", "Log in to the platform first.", code="login_required")
        return who

    async def session_live(self, who: Principal, bearer: str) -> bool:
        """Whether a first-party token still stands for a live session. An access token outlives its session by up
        to its 10 minutes (verified offline): one issued before the account's last password change or reset, or
        whose session logged out, must not start a relying party's session (which would outlive the change)."""
        claims = tokens.unverified_claims(bearer)  # verified already, by the route's dependency
        account = await self.store.account(who.subject)
        if account is None or not account.active:
            return False
        issued = datetime.fromtimestamp(int(claims.get("iat", 0)), UTC)
        changed = account.password_changed_at
        # ``iat`` is in whole seconds: a token of the very second of the change (registration sets it too) passes
        if changed is not None and issued < changed.replace(microsecond=0):
            return False
        return not (claims.get("sid") and await self.store.family_revoked(claims["sid"]))

    async def consent(self, who: Principal, client_id: str, scope: str) -> str:
        self.first_party(who)
        client = await self.active_client(client_id)
        if client is None:
            raise Problem(404, "Unknown client", code="invalid_client")
        granted = oidc.narrow_scope(scope, client.allowed_scopes)
        if granted is None:
            raise Problem(
                422,
                "Invalid scope",
                errors=[{"field": "body.scope", "message": "openid and the client's scopes only", "code": "scope"}],
            )
        agreed = await self.store.consented_scopes(who.subject, client_id) | set(granted.split())
        await self.store.save_consent(who.subject, client_id, agreed)
        await self.store.audit(who.subject, "oidc.consent", client_id, scope=" ".join(sorted(agreed)))
        return " ".join(sorted(agreed))

    async def withdraw(self, who: Principal, client_id: str) -> None:
        self.first_party(who)
        if not await self.store.withdraw_consent(who.subject, client_id):
            raise Problem(404, "No consent for this client", code="consent_not_found")
        await self.store.audit(who.subject, "oidc.consent.withdraw", client_id)

    async def missing_consent(self, who: Principal, client: oidc.Client, granted: str) -> set[str]:
        return oidc.missing_consent(granted, await self.store.consented_scopes(who.subject, client.client_id))

    # --- codes and tokens -----------------------------------------------------------------------------------
    async def new_code(
        self,
        who: Principal,
        bearer: str,
        client: oidc.Client,
        redirect_uri: str,
        granted: str,
        code_challenge: str,
        nonce: str | None,
    ) -> str:
        code = crypto.b64e(crypto.secrets.token_bytes(32))
        t = now()
        await self.store.save_code(
            oidc.AuthorizationCode(
                crypto.token_digest(code),
                client.client_id,
                who.subject,
                redirect_uri,
                granted,
                code_challenge,
                nonce,
                auth_time=t,
                expires_at=t + oidc.CODE_TTL,
                session=tokens.unverified_claims(bearer).get("sid"),  # verified already, by the route's dependency
            )
        )
        return code

    async def exchange_code(
        self, client: oidc.Client, code: str | None, redirect_uri: str | None, code_verifier: str | None
    ) -> dict[str, Any] | None:
        """The tokens for a code, or None (``invalid_grant``)."""
        record = await self.store.take_code(crypto.token_digest(code)) if code else None
        if (
            record is None
            or record.client_id != client.client_id
            or record.redirect_uri != redirect_uri
            or record.expires_at < now()
            or not oidc.check_pkce(code_verifier, record.code_challenge)
        ):
            return None
        account = await self.store.account(record.user_id)
        if account is None or not account.active:
            return None
        if record.session and await self.store.family_revoked(record.session):
            return None  # the user logged out between the code and its exchange
        return await self.identity.issue(
            account,
            family=record.session or uuid.uuid4().hex,
            auth_time=record.auth_time,
            client_id=client.client_id,
            scope=record.scope,
            nonce=record.nonce,
        )

    async def userinfo_principal(self, token: str) -> Principal:
        """A relying party's token (audience: its client id, the client still active) or a platform token."""
        aud = tokens.unverified_claims(token).get("aud")
        if not isinstance(aud, str):
            raise TokenError("invalid", "The token has no audience.").problem()
        if aud != self.identity.s.audience and await self.active_client(aud) is None:
            raise TokenError("invalid", "The token's audience is not a registered client.").problem()
        verifier = TokenVerifier(self.identity.verifier.keys, issuer=self.identity.s.issuer, audience=aud)
        try:
            return await verifier.verify(token)
        except TokenError as exc:
            raise exc.problem() from None

    # --- logout ---------------------------------------------------------------------------------------------
    async def logout(self, id_token_hint: str | None, bearer: str | None, client_id: str | None) -> str | None:
        """Ends the session named by the ID token (its ``sid``) or by the caller's platform token. Returns the
        client the ID token was issued to (whose post-logout redirect URIs apply)."""
        session, audience = None, None
        if id_token_hint:
            claims = tokens.verify_id_token(self.identity.ring, self.identity.policy, id_token_hint, now())
            if claims is None or (client_id and claims.get("aud") != client_id):
                raise Problem(400, "Invalid id_token_hint", code="invalid_request")
            session, audience = claims.get("sid"), claims.get("aud")
        elif bearer:
            session = tokens.unverified_claims(bearer).get("sid")  # verified already, by the route's dependency
        if isinstance(session, str) and session:
            await self.store.revoke_family(session, "logout")
        return audience if isinstance(audience, str) else client_id

    # --- clients --------------------------------------------------------------------------------------------
    async def set_client_active(self, who: Principal, client_id: str, active: bool) -> None:
        who.require(MINISTRY_ADMIN, org=None)
        if not await self.store.set_client_active(client_id, active):
            raise Problem(404, "Unknown client", code="invalid_client")
        await self.store.audit(who.subject, "oidc.client.activate" if active else "oidc.client.deactivate", client_id)
