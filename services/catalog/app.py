"""The catalog service (目录): sections, the textbook tree, editorial review, search, replication feed."""

from __future__ import annotations

import asyncio
import logging

from fastapi import FastAPI

from catalog import api, consumers, exercise_api
from catalog.exercise_store import ExerciseStore
from catalog.exercises import ExerciseBank
from catalog.migration import load_heads_after_migrations
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
    ExerciseStore.declare(kit.store, kit.outbox)
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
        # With the data migrations first: at every start until done, so no environment misses them; nothing
        # waits for them (reads map the former spellings).
        background.append(asyncio.create_task(load_heads_after_migrations(service), name="catalog-heads"))

    @kit.on_shutdown
    async def cancel_background() -> None:
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)

    app = kit.build_app(
        routers=[api.router, exercise_api.router],
        title="Catalog",
        description="Sections, the textbook tree, editorial review, search and replication.",
        body_limits={"/v1/import": settings.import_max_body_bytes},
    )
    app.state.catalog = service
    app.state.exercises = ExerciseBank(ExerciseStore(kit.store.db), kit.outbox, read)
    app.state.settings = settings
    return app
