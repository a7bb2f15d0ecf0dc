"""A catalog process with a crash point, for tests only: it dies (SIGKILL) the first time its outbox relay
publishes, that is after a write stored its events and before any of them reached Kafka. Tokens are verified
against the test's key (``TEST_JWKS``), as the in-process tests do."""

from __future__ import annotations

import json
import os
import signal

import httpx
from fastapi import FastAPI

from catalog.app import create_app as create_catalog
from common.auth import JwksCache, TokenVerifier, install_verifier


class _DiesOnPublish:
    async def publish_many(self, events, *, event_ids=None) -> None:
        os.kill(os.getpid(), signal.SIGKILL)


def create_app() -> FastAPI:
    app = create_catalog()
    app.state.kit.outbox.relay.publisher = _DiesOnPublish()
    jwks = json.loads(os.environ["TEST_JWKS"])
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json=jwks))
    cache = JwksCache("http://id.test/jwks.json", client=httpx.AsyncClient(transport=transport))
    install_verifier(app, TokenVerifier(cache, issuer=os.environ["TEST_ISSUER"], audience=os.environ["TEST_AUDIENCE"]))
    return app
