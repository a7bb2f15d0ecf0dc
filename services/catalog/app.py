"""The catalog service (目录): sections, the textbook tree, editorial review, search, replication feed."""

from __future__ import annotations

import logging

from fastapi import FastAPI

from catalog import api, consumers
from catalog.readmodel import ReadModel
from catalog.service import CatalogService
from catalog.settings import CatalogSettings
from catalog.store import CatalogStore
from common.service import ServiceKit

log = logging.getLogger("catalog")


def create_app(settings: CatalogSettings | None = None) -> FastAPI:
    settings = settings or CatalogSettings()
    kit = ServiceKit("catalog", settings)
    read = ReadModel(settings.search_heap_bytes)
    service = CatalogService(CatalogStore(kit.store.db), kit.publisher, read)
    consumers.register(kit, service, settings.replica_id)

    @kit.on_startup
    async def rebuild() -> None:
        stats = await service.rebuild()
        log.info("catalog read model rebuilt: %s", stats)
        app.state.rebuild_stats = stats

    app = kit.build_app(
        routers=[api.router],
        title="Catalog",
        description="Sections, the textbook tree, editorial review, search and replication.",
    )
    app.state.catalog = service
    app.state.settings = settings
    return app
