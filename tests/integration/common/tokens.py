"""Access tokens signed the way identity signs them, for services tested without identity: each service verifies
them against :meth:`Tokens.jwks`, served to its verifier by an in-process transport (identity is not ours to fake
here: its own tests cover issuing)."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
from joserfc import jwt
from joserfc.jwk import OKPKey

from common.auth import JwksCache, TokenVerifier

ISS, AUD = "https://id.test", "smartedu-test"


class Tokens:
    def __init__(self) -> None:
        self.key = OKPKey.generate_key("Ed25519", {"kid": "k1", "use": "sig", "alg": "Ed25519"}, private=True)

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.key.as_dict(private=False)]}

    def verifier(self) -> TokenVerifier:
        transport = httpx.MockTransport(lambda r: httpx.Response(200, json=self.jwks()))
        cache = JwksCache("http://id.test/jwks.json", client=httpx.AsyncClient(transport=transport))
        return TokenVerifier(cache, issuer=ISS, audience=AUD)

    def token(self, sub: str, *roles: str, kind: str | None = None) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {"iss": ISS, "aud": AUD, "sub": sub, "jti": uuid.uuid4().hex, "iat": now}
        claims |= {"exp": now + 900, "roles": list(roles)}
        if kind:
            claims["kind"] = kind
        return jwt.encode({"alg": "Ed25519", "kid": "k1", "typ": "at+jwt"}, claims, self.key, algorithms=["Ed25519"])

    def headers(self, sub: str, *roles: str, kind: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(sub, *roles, kind=kind)}"}
