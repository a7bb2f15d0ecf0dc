"""The OpenID Connect provider's use cases: discovery, authorization (consent, codes with PKCE), the token
exchange, userinfo, RP-initiated logout. The routes in ``identity.api.oidc`` speak the protocol over these.

- Only a **first-party session** authorizes: an access token identity's own login issued for the platform
  audience (no ``client_id``). A relying party's token never does (its audience is the party itself, so identity's
  verifier refuses it; older ones carry ``client_id`` and are refused).
- **Consent** is recorded per (user, client) as the set of scopes the user agreed to; a request for a scope
  not agreed to yet is answered ``consent_required`` (the platform's front end asks, then posts the answer).
- A relying party's tokens **join the first-party session** (same refresh family, ``sid`` in the ID token):
  logging out of either ends both.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from common.auth import Principal, TokenError, TokenVerifier
from common.errors import DomainError, Forbidden, Invalid, NotFound
from identity.domain import crypto, oidc, tokens
from identity.handlers.base import Handler, now
from identity.handlers.sessions import RefreshRefused

CONSENT_ENDPOINT = "/oauth2/consent"


class OAuthError(Exception):
    """An OAuth 2.0 error answer of the token endpoint (RFC 6749 §5.2), not a problem."""

    def __init__(self, error: str, description: str | None, status: int = 400) -> None:
        super().__init__(error)
        self.error, self.description, self.status = error, description, status


class Sso(Handler):
    def discovery(self) -> dict[str, Any]:
        iss = self.s.issuer
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

    # --- consent --------------------------------------------------------------------------------------------
    async def session_live(self, who: Principal) -> bool:
        """Whether a first-party token still stands for a live session. An access token outlives its session by up
        to its 10 minutes (verified offline): one issued before the account's last password change or reset, or
        whose session logged out, must not start a relying party's session (which would outlive the change)."""
        account = await self.store.accounts.account(who.subject)
        if account is None or not account.active:
            return False
        issued = who.issued_at or datetime.fromtimestamp(0, UTC)
        changed = account.password_changed_at
        # ``iat`` is in whole seconds: a token of the very second of the change (registration sets it too) passes
        if changed is not None and issued < changed.replace(microsecond=0):
            return False
        return not (who.session and await self.store.sessions.family_revoked(who.session))

    async def consent(self, who: Principal, client_id: str, scope: str) -> str:
        client = await self.identity.clients.active(client_id)
        if client is None:
            raise NotFound("Unknown client", code="invalid_client")
        granted = oidc.narrow_scope(scope, client.allowed_scopes)
        if granted is None:
            raise Invalid("openid and the client's scopes only", code="scope", field="body.scope")
        agreed = await self.store.oidc.consented_scopes(who.subject, client_id) | set(granted.split())
        await self.store.oidc.save_consent(who.subject, client_id, agreed)
        await self.store.audit.record(who.subject, "oidc.consent", client_id, scope=" ".join(sorted(agreed)))
        return " ".join(sorted(agreed))

    async def withdraw(self, who: Principal, client_id: str) -> None:
        if not await self.store.oidc.withdraw_consent(who.subject, client_id):
            raise NotFound("No consent for this client", code="consent_not_found")
        await self.store.audit.record(who.subject, "oidc.consent.withdraw", client_id)

    # --- authorization --------------------------------------------------------------------------------------
    async def authorize(
        self,
        who: Principal | None,
        *,
        client_id: str,
        redirect_uri: str,
        response_type: str,
        scope: str,
        code_challenge: str | None,
        code_challenge_method: str | None,
        nonce: str | None,
        prompt: str | None,
    ) -> dict[str, str]:
        """What goes back to ``redirect_uri``: ``code`` or ``error`` (and ``error_description``). An unknown client
        or redirect URI is never redirected to (a plain 400), a consent still missing is asked for (403) unless
        ``prompt=none``."""
        client = await self.identity.clients.active(client_id)
        if client is None or redirect_uri not in client.redirect_uris:
            raise DomainError("Unknown client or redirect URI", code="invalid_client")  # a 400: never redirect then
        if response_type != "code":
            return {"error": "unsupported_response_type"}
        if not code_challenge or code_challenge_method != "S256":
            return {"error": "invalid_request", "error_description": "PKCE S256 is required"}
        granted = oidc.narrow_scope(scope, client.allowed_scopes)
        if granted is None:
            return {"error": "invalid_scope"}
        if who is None or who.client_id is not None:
            # only the platform's own login authorizes (never a relying party's token); the platform's login page
            # would take over here, APIs answer with the standard error
            return {"error": "login_required"}
        if not await self.session_live(who):
            return {"error": "login_required"}  # a token of a session a password change or a logout ended
        missing = oidc.missing_consent(granted, await self.store.oidc.consented_scopes(who.subject, client_id))
        if missing:
            if prompt == "none":
                return {"error": "consent_required"}
            raise Forbidden(
                f"Consent required: {client.name} asks for: {' '.join(sorted(missing))}. "
                f"Answer with POST {CONSENT_ENDPOINT}, then retry.",
                code="consent_required",
                client_id=client.client_id,
                client_name=client.name,
                scope=granted,
                consent_endpoint=CONSENT_ENDPOINT,
            )
        return {"code": await self._new_code(who, client, redirect_uri, granted, code_challenge, nonce)}

    async def _new_code(
        self,
        who: Principal,
        client: oidc.Client,
        redirect_uri: str,
        granted: str,
        code_challenge: str,
        nonce: str | None,
    ) -> str:
        code = crypto.b64e(crypto.secrets.token_bytes(32))
        t = now()
        await self.store.oidc.save_code(
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
                session=who.session,
            )
        )
        return code

    # --- the token endpoint ---------------------------------------------------------------------------------
    async def token(
        self,
        client_id: str | None,
        client_secret: str | None,
        *,
        grant_type: str | None,
        code: str | None = None,
        redirect_uri: str | None = None,
        code_verifier: str | None = None,
        refresh_token: str | None = None,
    ) -> dict[str, Any]:
        """The token response of an authenticated client's grant; :class:`OAuthError` otherwise."""
        client = await self.identity.clients.active(client_id)  # a deactivated client gets nothing, not even a refresh
        if client is None or not client.check_secret(crypto.token_digest(client_secret) if client_secret else None):
            raise OAuthError("invalid_client", "client authentication failed", 401)
        if grant_type == "authorization_code":
            body = await self._exchange_code(client, code, redirect_uri, code_verifier)
            if body is None:
                raise OAuthError("invalid_grant", "code invalid, used, expired, PKCE mismatch or session ended")
            return body
        if grant_type == "refresh_token" and refresh_token:
            try:
                return await self.identity.sessions.refresh(refresh_token, client_id=client.client_id)
            except RefreshRefused:
                raise OAuthError("invalid_grant", "refresh token refused") from None
        raise OAuthError("unsupported_grant_type", grant_type)

    async def _exchange_code(
        self, client: oidc.Client, code: str | None, redirect_uri: str | None, code_verifier: str | None
    ) -> dict[str, Any] | None:
        """The tokens for a code, or None (``invalid_grant``)."""
        record = await self.store.oidc.take_code(crypto.token_digest(code)) if code else None
        if (
            record is None
            or record.client_id != client.client_id
            or record.redirect_uri != redirect_uri
            or record.expires_at < now()
            or not oidc.check_pkce(code_verifier, record.code_challenge)
        ):
            return None
        account = await self.store.accounts.account(record.user_id)
        if account is None or not account.active:
            return None
        if record.session and await self.store.sessions.family_revoked(record.session):
            return None  # the user logged out between the code and its exchange
        return await self.identity.sessions.issue(
            account,
            family=record.session or uuid.uuid4().hex,
            auth_time=record.auth_time,
            client_id=client.client_id,
            scope=record.scope,
            nonce=record.nonce,
        )

    # --- userinfo -------------------------------------------------------------------------------------------
    async def userinfo_principal(self, token: str) -> Principal:
        """A relying party's token (audience: its client id, the client still active) or a platform token;
        :class:`TokenError` otherwise."""
        aud = tokens.unverified_claims(token).get("aud")
        if not isinstance(aud, str):
            raise TokenError("invalid", "The token has no audience.")
        if aud != self.s.audience and await self.identity.clients.active(aud) is None:
            raise TokenError("invalid", "The token's audience is not a registered client.")
        return await TokenVerifier(self.identity.verifier.keys, issuer=self.s.issuer, audience=aud).verify(token)

    async def userinfo(self, who: Principal) -> dict[str, Any]:
        account = await self.identity.accounts.me(who)
        scopes = who.scope.split() if who.scope is not None else ["openid", "profile", "roles"]
        out: dict[str, Any] = {"sub": account.id, "kind": account.kind}
        if "profile" in scopes:
            out["name"] = self.identity.accounts.real_name(account)
        if "roles" in scopes:
            out["roles"] = [r.claim() for r in account.roles]
        return out

    # --- logout ---------------------------------------------------------------------------------------------
    async def logout(
        self,
        who: Principal | None,
        id_token_hint: str | None,
        client_id: str | None,
        post_logout_redirect_uri: str | None,
    ) -> str | None:
        """Ends the session named by the ID token (its ``sid``) or by the caller's platform token. Returns where to
        send the browser: ``post_logout_redirect_uri`` once it is one the client the ID token was issued to (or
        ``client_id``) registered; None when none was asked for."""
        session, audience = None, None
        if id_token_hint:
            claims = tokens.verify_id_token(self.identity.ring, self.identity.policy, id_token_hint, now())
            if claims is None or (client_id and claims.get("aud") != client_id):
                raise DomainError("Invalid id_token_hint", code="invalid_request")  # a 400
            session, audience = claims.get("sid"), claims.get("aud")
        elif who is not None:
            session = who.session
        if isinstance(session, str) and session:
            await self.store.sessions.revoke_family(session, "logout")
        if not post_logout_redirect_uri:
            return None
        client = await self.identity.clients.active(audience if isinstance(audience, str) else client_id)
        if client is None or post_logout_redirect_uri not in client.post_logout_redirect_uris:
            raise DomainError("Unregistered post-logout redirect URI", code="invalid_request")  # a 400
        return post_logout_redirect_uri
