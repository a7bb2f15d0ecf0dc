"""The catalog service (目录): sections, the textbook tree, editorial review, search, replication feed."""

from __future__ import annotations

import asyncio
import logging

from fastapi import FastAPI

from catalog import api, consumers
from catalog.readmodel import ReadModel
from catalog.service import Catalog
from catalog.settings import CatalogSettings
from catalog.store import CatalogStore, declare_outbox
from common.messaging import kafka_client_options
from common.service import ServiceKit

log = logging.getLogger("catalog")


def create_app(settings: CatalogSettings | None = None) -> FastAPI:
    settings = settings or CatalogSettings()
    kit = ServiceKit("catalog", settings)
    read = ReadModel(settings.search_heap_bytes)
    declare_outbox(kit.outbox)
    service = Catalog(CatalogStore(kit.store.db, kit.outbox), kit.outbox, read, settings.writes_wait_seconds)
    consumers.register(kit, service, settings.replica_id)
    index_group = next(c.group_id for c in kit.consumers if c.group == "catalog-index")
    background: list[asyncio.Task[None]] = []

    @kit.on_startup
    async def load() -> None:
        # Before serving: the public catalog from the compacted topic (the group's consumer continues from
        # the end offsets read here). After: the editorial heads from the store and an outbox sweep.
        stats = await service.replica.start(kafka_client_options(settings), group_id=index_group)
        log.info("catalog read model loaded from the topic: %s", stats)
        app.state.rebuild_stats = stats
        background.append(asyncio.create_task(migrate_then_load_heads(), name="catalog-heads"))

    async def migrate_then_load_heads() -> None:
        # At every start, in the background: cheap once done (one small read), and no deploy step to forget.
        # Reads already map the former spellings, so serving does not wait for it; the heads scan after it
        # reads the migrated revisions.
        try:
            migrated = await service.store.migrate_local_channels()
            if migrated is not None:
                log.info("local channels of %d revisions migrated to GB/T 2260 codes", migrated)
        except Exception:  # the store is down: the next start migrates (reads map the letters meanwhile)
            log.exception("migrating local channels to GB/T 2260 codes failed; the next start retries")
        await service.replica.load_heads_in_background()

    @kit.on_shutdown
    async def cancel_background() -> None:
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)

    app = kit.build_app(
        routers=[api.router],
        title="Catalog",
        description="Sections, the textbook tree, editorial review, search and replication.",
        body_limits={"/v1/import": settings.import_max_body_bytes},
    )
    app.state.catalog = service
    app.state.settings = settings
    return app
