"""viewstats: the aggregator (consumer group ``viewstats-aggregator``), the learning-hours consumers
(``viewstats-learning``, ``viewstats-catalog``) and the query API in one process."""

from __future__ import annotations

from fastapi import FastAPI

from common.contracts.catalog import ResourcePublished
from common.service import ServiceKit
from viewstats import api, learning_api
from viewstats.aggregator import Aggregator
from viewstats.learning import Ledger, declare_outbox
from viewstats.settings import ViewstatsSettings
from viewstats.store import LearningStore, ViewStore


def create_app(settings: ViewstatsSettings | None = None) -> FastAPI:
    settings = settings or ViewstatsSettings()
    kit = ServiceKit("viewstats", settings)
    store = ViewStore(kit.store.db)  # `<MONGODB_DATABASE_PREFIX>viewstats`
    aggregator = Aggregator(settings, store, kit.broker, kit.publisher.publish_many)
    if settings.run_aggregator:
        kit.on_startup(aggregator.start)
        kit.on_shutdown(aggregator.stop)
    learning = LearningStore(kit.store.db)
    declare_outbox(kit.outbox)
    ledger = Ledger(learning, kit.outbox, settings.certificate_key.get_secret_value().encode())
    if settings.run_learning:
        kit.consumer(topic=ResourcePublished.TOPIC, group="viewstats-catalog", batch=True, max_records=1000)(
            ledger.on_catalog
        )
        kit.consumer(topic=settings.heartbeats_topic, group="viewstats-learning", batch=True, max_records=1000)(
            ledger.on_heartbeats
        )
    app = kit.build_app(
        routers=[
            api.build_router(settings, store, lambda: aggregator.freshness_ms),
            learning_api.build_router(settings, learning),
            api.dashboard_router(),
        ],
        title="View statistics",
        description="Page views, unique visitors and learning hours of the platform, exactly counted.",
    )
    app.state.aggregator = aggregator
    app.state.ledger = ledger
    return app
