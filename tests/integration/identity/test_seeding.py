"""Identity seeds the root and the 34 provincial divisions in every environment, the demo schools only when asked
(IDENTITY_SEED_DEMO, off by default and refused in production)."""

from __future__ import annotations

import uuid

import pytest
from asgi_lifespan import LifespanManager
from pymongo import AsyncMongoClient

from identity.app import create_app
from identity.domain import orgs
from identity.settings import IdentitySettings

pytestmark = pytest.mark.integration


async def test_the_divisions_are_seeded_without_the_demo_subtree_unless_asked(mongodb_url):
    run = uuid.uuid4().hex[:8]
    prefix = f"test_identity_seed_{run}_"
    try:
        for seed_demo in (False, True):  # the second start adds the demo subtree to what the first seeded
            settings = IdentitySettings(
                mongodb_database_prefix=prefix, kafka_client_prefix=f"test-{run}-", seed_demo=seed_demo
            )
            app = create_app(settings)
            async with LifespanManager(app, startup_timeout=60, shutdown_timeout=30):
                tree = app.state.identity.tree
                assert len([n for n in tree.nodes if n.count("/") == 1 and n.startswith("cn/")]) == 34
                demo = {path for path, _ in orgs.DEMO_SUBTREE}
                assert (demo <= set(tree.nodes)) is seed_demo
                stored = await app.state.identity.store.orgs.all()
                assert len(stored) == len({n.path for n in stored}) == len(orgs.seed_nodes(demo=seed_demo))
    finally:
        client = AsyncMongoClient(mongodb_url, timeoutMS=30_000)
        await client.drop_database(f"{prefix}identity")
        await client.close()
