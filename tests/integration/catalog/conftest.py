from __future__ import annotations

import uuid

import httpx
import pytest
from asgi_lifespan import LifespanManager
from pymongo import AsyncMongoClient

from catalog.app import create_app
from catalog.settings import CatalogSettings
from common.auth import install_verifier
from tests.integration.common.tokens import AUD, ISS, Tokens  # noqa: F401 (the tests import them from here)


@pytest.fixture(scope="session")
def tokens() -> Tokens:
    return Tokens()


def settings_for(run: str, replica: str) -> CatalogSettings:
    return CatalogSettings(
        mongodb_database_prefix=f"test_catalog_{run}_",
        kafka_client_prefix=f"test-{run}-",
        replica_id=replica,
        search_heap_bytes=60_000_000,
    )


class Running:
    def __init__(self, app, client: httpx.AsyncClient, manager: LifespanManager) -> None:
        self.app, self.client, self.manager = app, client, manager


async def start(run: str, replica: str, tokens: Tokens, prepare=None) -> Running:
    """A replica, started (ready to serve). ``prepare(app)`` runs before its start-up."""
    app = create_app(settings_for(run, replica))
    install_verifier(app, tokens.verifier())
    if prepare is not None:
        prepare(app)
    manager = LifespanManager(app, startup_timeout=120, shutdown_timeout=60)
    await manager.__aenter__()
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=manager.app), base_url="http://catalog")
    return Running(app, client, manager)


async def stop(running: Running) -> None:
    await running.client.aclose()
    await running.manager.__aexit__(None, None, None)


@pytest.fixture(scope="module")
async def run_id(mongodb_url):
    run = uuid.uuid4().hex[:8]
    yield run
    client = AsyncMongoClient(mongodb_url, timeoutMS=30_000)
    await client.drop_database(f"test_catalog_{run}_catalog")
    await client.close()


@pytest.fixture(scope="module")
async def catalog(run_id, tokens):
    running = await start(run_id, "a", tokens)
    yield running
    await stop(running)
