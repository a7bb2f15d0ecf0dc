"""Tokens: signing keys and their rotation, access tokens, rotating refresh tokens, ID tokens.

Key rotation publishes ahead: the JWKS always holds the *next* key before it signs anything, so verifiers
that refetched at any time in the last rotation period already know it; the previous *active* key stays
published (``retired``) until every token it signed has expired. A rotation therefore never produces an
``unknown_key`` on a verifier whose cache is younger than the rotation period.

Refresh tokens are 256-bit random strings, stored only as SHA-256 digests. Each use returns a new one in
the same *family* (one login); presenting an already-used token means it was stolen or replayed, and the
whole family is revoked (OAuth 2.0 Security BCP, refresh token rotation with reuse detection).
"""

from __future__ import annotations

import base64
import json
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import OKPKey

from common.auth import ACCESS_TOKEN_TYPE, Role, role_claims

ACCESS_ALG = "Ed25519"  # RFC 9864 fully specified name
ID_TOKEN_ALG = "EdDSA"  # what today's OIDC relying parties (Authlib included) understand


@dataclass
class SigningKey:
    kid: str
    private_jwk: dict[str, Any]
    status: str  # next | active | retired
    created_at: datetime
    retire_after: datetime | None = None  # retired keys leave the JWKS after this

    @classmethod
    def generate(cls, now: datetime, status: str = "next") -> SigningKey:
        kid = f"{now:%Y%m%d%H%M%S}-{secrets.token_hex(4)}"
        key = OKPKey.generate_key("Ed25519", {"kid": kid, "use": "sig"}, private=True)
        return cls(kid=kid, private_jwk=key.as_dict(private=True), status=status, created_at=now)

    def okp(self) -> OKPKey:
        return OKPKey.import_key(self.private_jwk)

    def public(self) -> dict[str, Any]:
        pub = {k: v for k, v in self.private_jwk.items() if k != "d"}
        pub.update(use="sig", alg=ACCESS_ALG, kid=self.kid)
        return pub


@dataclass
class KeyRing:
    keys: list[SigningKey] = field(default_factory=list)

    def active(self) -> SigningKey:
        for k in self.keys:
            if k.status == "active":
                return k
        raise LookupError("no active signing key")

    def published(self, now: datetime) -> list[SigningKey]:
        return [k for k in self.keys if k.status != "retired" or (k.retire_after and k.retire_after > now)]

    def jwks(self, now: datetime) -> dict[str, Any]:
        return {"keys": [k.public() for k in self.published(now)]}

    def ensure(self, now: datetime) -> list[SigningKey]:
        """First start: an active key and the next one. Returns keys that are new (to store)."""
        new = []
        if not any(k.status == "active" for k in self.keys):
            nxt = next((k for k in self.keys if k.status == "next"), None)
            if nxt is not None:
                nxt.status = "active"
            else:
                new.append(SigningKey.generate(now, "active"))
        if not any(k.status == "next" for k in self.keys + new):
            new.append(SigningKey.generate(now, "next"))
        self.keys.extend(new)
        return new

    def rotate(self, now: datetime, max_token_lifetime: timedelta) -> list[SigningKey]:
        """next → active, active → retired (published until its last token expired), new next.
        Returns every key whose record changed."""
        changed = []
        old = self.active()
        nxt = next((k for k in self.keys if k.status == "next"), None)
        if nxt is None:
            nxt = SigningKey.generate(now, "next")
            self.keys.append(nxt)
        old.status, old.retire_after = "retired", now + max_token_lifetime
        nxt.status = "active"
        fresh = SigningKey.generate(now, "next")
        self.keys.append(fresh)
        changed += [old, nxt, fresh]
        # forget retired keys long gone from the JWKS
        self.keys = [
            k
            for k in self.keys
            if not (k.status == "retired" and k.retire_after and k.retire_after < now - timedelta(days=1))
        ]
        return changed


@dataclass(frozen=True)
class TokenPolicy:
    issuer: str
    audience: str
    access_ttl: timedelta = timedelta(minutes=10)
    refresh_ttl: timedelta = timedelta(days=30)
    id_token_ttl: timedelta = timedelta(minutes=10)


def issue_access_token(
    ring: KeyRing,
    policy: TokenPolicy,
    *,
    subject: str,
    roles: list[Role],
    kind: str | None,
    now: datetime,
    client_id: str | None = None,
    scope: str | None = None,
    session: str | None = None,
) -> tuple[str, str]:
    """Returns (token, jti). A token for a relying party (``client_id``) is for that party's audience only:
    the platform's services, which accept only ``policy.audience``, refuse it. ``session`` (``sid``) is the
    login (refresh token family) it belongs to: a logout ends it."""
    key = ring.active()
    jti = uuid.uuid4().hex
    claims: dict[str, Any] = {
        "iss": policy.issuer,
        "aud": client_id or policy.audience,
        "sub": subject,
        "jti": jti,
        "iat": int(now.timestamp()),
        "exp": int((now + policy.access_ttl).timestamp()),
        "roles": role_claims(roles),
        "kind": kind,
    }
    if session:
        claims["sid"] = session
    if client_id:
        claims["client_id"] = client_id
    if scope:
        claims["scope"] = scope
    header = {"alg": ACCESS_ALG, "kid": key.kid, "typ": ACCESS_TOKEN_TYPE}
    return jwt.encode(header, claims, key.okp(), algorithms=[ACCESS_ALG]), jti


def issue_id_token(
    ring: KeyRing,
    policy: TokenPolicy,
    *,
    subject: str,
    client_id: str,
    nonce: str | None,
    now: datetime,
    auth_time: datetime,
    extra: dict[str, Any] | None = None,
) -> str:
    key = ring.active()
    claims: dict[str, Any] = {
        "iss": policy.issuer,
        "aud": client_id,
        "sub": subject,
        "iat": int(now.timestamp()),
        "exp": int((now + policy.id_token_ttl).timestamp()),
        "auth_time": int(auth_time.timestamp()),
        "azp": client_id,
    }
    if nonce:
        claims["nonce"] = nonce
    claims.update(extra or {})
    return jwt.encode({"alg": ID_TOKEN_ALG, "kid": key.kid, "typ": "JWT"}, claims, key.okp(), algorithms=[ID_TOKEN_ALG])


def unverified_claims(token: str) -> dict[str, Any]:
    """The payload of a JWS without checking it: only to choose how to verify it (which audience), or to read a
    claim of a token already verified. Empty when it is not a JWS with a JSON object payload."""
    try:
        payload = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    except (IndexError, ValueError, UnicodeError):
        return {}
    return payload if isinstance(payload, dict) else {}


def verify_id_token(ring: KeyRing, policy: TokenPolicy, token: str, now: datetime) -> dict[str, Any] | None:
    """The claims of an ID token this issuer signed (an expired one too: RP-initiated logout sends the last one
    it has), or None. Only the ID token algorithm and the keys still published are accepted."""
    kid = (unverified_header(token) or {}).get("kid")
    key = next((k for k in ring.published(now) if k.kid == kid), None)
    if key is None:
        return None
    try:
        decoded = jwt.decode(token, key.okp(), algorithms=[ID_TOKEN_ALG])
    except (JoseError, ValueError):
        return None
    claims = decoded.claims
    if decoded.header.get("typ") == ACCESS_TOKEN_TYPE or claims.get("iss") != policy.issuer:
        return None
    return claims


def unverified_header(token: str) -> dict[str, Any] | None:
    try:
        header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    except (IndexError, ValueError, UnicodeError):
        return None
    return header if isinstance(header, dict) else None


# --- refresh tokens ---------------------------------------------------------------------------------------
def new_secret() -> str:
    return secrets.token_urlsafe(32)


@dataclass(frozen=True)
class RefreshToken:
    """What the store keeps under ``_id = "rt:<sha256>"``. ``family`` is the login it descends from."""

    digest: str
    family: str
    user_id: str
    client_id: str | None
    scope: str | None
    issued_at: datetime
    expires_at: datetime
    auth_time: datetime


class RefreshOutcome:
    OK = "ok"
    EXPIRED = "expired"
    REUSED = "reused"  # revoke the family
    REVOKED = "revoked"
    UNKNOWN = "unknown"


def judge_refresh(
    token: RefreshToken | None, *, family_revoked: bool, already_used: bool, now: datetime, client_id: str | None
) -> str:
    if token is None or token.client_id != client_id:
        return RefreshOutcome.UNKNOWN
    if family_revoked:
        return RefreshOutcome.REVOKED
    if already_used:
        return RefreshOutcome.REUSED
    if token.expires_at <= now:
        return RefreshOutcome.EXPIRED
    return RefreshOutcome.OK
