"""OpenID Connect provider rules (统一身份认证对接): registered clients, authorization codes with PKCE.

Client secrets are 256-bit random strings shown once at registration and stored as SHA-256 digests (a slow
hash adds nothing to a secret with that much entropy and would cost a hash per token request).
Authorization codes are single-use (an insert of ``code-used:<digest>`` is the atomic claim), live 60 s and
require PKCE S256 for every client.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import urlparse

CODE_TTL = timedelta(seconds=60)
SUPPORTED_SCOPES = ("openid", "profile", "roles", "offline_access")


@dataclass
class Client:
    client_id: str
    secret_digest: str | None  # None: a public client (PKCE only)
    name: str
    redirect_uris: list[str]
    post_logout_redirect_uris: list[str] = field(default_factory=list)
    allowed_scopes: tuple[str, ...] = SUPPORTED_SCOPES
    active: bool = True

    def check_secret(self, digest: str | None) -> bool:
        if self.secret_digest is None:
            return digest is None
        return digest is not None and hmac.compare_digest(self.secret_digest, digest)


def valid_redirect_uri(uri: str) -> bool:
    p = urlparse(uri)
    if p.fragment:
        return False
    return p.scheme == "https" or (p.scheme == "http" and p.hostname in ("127.0.0.1", "localhost"))


@dataclass
class AuthorizationCode:
    digest: str
    client_id: str
    user_id: str
    redirect_uri: str
    scope: str
    code_challenge: str
    nonce: str | None
    auth_time: datetime
    expires_at: datetime
    session: str | None = None
    """The first-party login (refresh token family) it was authorized from: the relying party's tokens join it,
    so that a logout, a reuse detection or a revocation of that login ends them too (single logout)."""


# RFC 7636 §4.1: code-verifier = 43*128unreserved, unreserved = ALPHA / DIGIT / "-" / "." / "_" / "~"
CODE_VERIFIER = re.compile(r"[A-Za-z0-9\-._~]{43,128}")


def pkce_s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=").decode()


def check_pkce(verifier: str | None, challenge: str) -> bool:
    """False for anything but a well-formed verifier matching the challenge (a non-ASCII one included: an
    ``invalid_grant``, never an encoding error)."""
    if not verifier or not CODE_VERIFIER.fullmatch(verifier):
        return False
    return hmac.compare_digest(pkce_s256(verifier), challenge)


def missing_consent(granted: str, consented: set[str]) -> set[str]:
    """The scopes of a request the user has not consented to for this client yet."""
    return set(granted.split()) - consented


def narrow_scope(requested: str, allowed: tuple[str, ...]) -> str | None:
    scopes = [s for s in requested.split() if s]
    if "openid" not in scopes or any(s not in allowed for s in scopes):
        return None
    return " ".join(dict.fromkeys(scopes))
