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


def pkce_s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=").decode()


def check_pkce(verifier: str | None, challenge: str) -> bool:
    if not verifier or not (43 <= len(verifier) <= 128):
        return False
    return hmac.compare_digest(pkce_s256(verifier), challenge)


def narrow_scope(requested: str, allowed: tuple[str, ...]) -> str | None:
    scopes = [s for s in requested.split() if s]
    if "openid" not in scopes or any(s not in allowed for s in scopes):
        return None
    return " ".join(dict.fromkeys(scopes))
