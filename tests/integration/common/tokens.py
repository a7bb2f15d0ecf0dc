"""Access tokens signed the way identity signs them, for services tested without identity: each service verifies
them against :meth:`Tokens.jwks`, served to its verifier by an in-process transport (identity is not ours to fake
here: its own tests cover issuing)."""

from __future__ import annotations

import http.server
import json
import threading
import time
import uuid
from typing import Any

import httpx
from joserfc import jwt
from joserfc.jwk import OKPKey

from common.auth import JwksCache, TokenVerifier

ISS, AUD = "https://id.test", "smartedu-test"


class Tokens:
    def __init__(self, iss: str = ISS, aud: str = AUD) -> None:
        self.iss, self.aud = iss, aud  # a stack whose services also take identity's tokens: identity's iss and aud
        self.key = OKPKey.generate_key("Ed25519", {"kid": "k1", "use": "sig", "alg": "Ed25519"}, private=True)

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.key.as_dict(private=False)]}

    def verifier(self) -> TokenVerifier:
        transport = httpx.MockTransport(lambda r: httpx.Response(200, json=self.jwks()))
        cache = JwksCache("http://id.test/jwks.json", client=httpx.AsyncClient(transport=transport))
        return TokenVerifier(cache, issuer=self.iss, audience=self.aud)

    def token(self, sub: str, *roles: str, kind: str | None = None) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {"iss": self.iss, "aud": self.aud, "sub": sub, "jti": uuid.uuid4().hex, "iat": now}
        claims |= {"exp": now + 900, "roles": list(roles)}
        if kind:
            claims["kind"] = kind
        return jwt.encode({"alg": "Ed25519", "kid": "k1", "typ": "at+jwt"}, claims, self.key, algorithms=["Ed25519"])

    def serve(self, beside: str | None = None) -> tuple[str, http.server.ThreadingHTTPServer]:
        """The JWKS over HTTP on a free port, as identity serves it, for a service run as a process (its
        ``AUTH_JWKS_URL``); with the keys of the JWKS at ``beside`` (identity's, fetched at each request, so a
        rotation shows) when given, so the service takes identity's tokens too. ``shutdown()`` the server when done."""
        tokens = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                keys = tokens.jwks()["keys"] + (httpx.get(beside, timeout=5).json()["keys"] if beside else [])
                body = json.dumps({"keys": keys}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{server.server_address[1]}/jwks.json", server

    def headers(self, sub: str, *roles: str, kind: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(sub, *roles, kind=kind)}"}
