"""viewstats: the aggregator (consumer group ``viewstats-aggregator``) and the query API in one process."""

from __future__ import annotations

from fastapi import FastAPI

from common.service import ServiceKit
from viewstats import api
from viewstats.aggregator import Aggregator
from viewstats.settings import ViewstatsSettings
from viewstats.store import ViewStore


def create_app(settings: ViewstatsSettings | None = None) -> FastAPI:
    settings = settings or ViewstatsSettings()
    kit = ServiceKit("viewstats", settings)
    db = kit.store.client[settings.database] if settings.database else kit.store.db
    store = ViewStore(db)
    aggregator = Aggregator(settings, store)
    if settings.run_aggregator:
        kit.on_startup(aggregator.start)
        kit.on_shutdown(aggregator.stop)
    app = kit.build_app(
        routers=[api.build_router(settings, store, lambda: aggregator.freshness_ms), api.dashboard_router()],
        title="View statistics",
        description="Page views, unique visitors and learning hours of the platform, exactly counted.",
    )
    app.state.aggregator = aggregator
    return app
