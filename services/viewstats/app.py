"""viewstats' main process: the aggregator (consumer group ``viewstats-aggregator``), the learning-hours consumers
(``viewstats-learning``, ``viewstats-catalog``) and the query API. The collector is the service's second process,
with its own entry point: :mod:`viewstats.collector.app`."""

from __future__ import annotations

from fastapi import FastAPI

from common.service import ServiceKit
from viewstats import api, consumers, learning_api
from viewstats.aggregator import Aggregator
from viewstats.learning import Ledger, declare_outbox
from viewstats.settings import ViewstatsSettings
from viewstats.stats import ViewStats
from viewstats.store import LearningStore, ViewStore


def create_app(settings: ViewstatsSettings | None = None) -> FastAPI:
    settings = settings or ViewstatsSettings()
    kit = ServiceKit("viewstats", settings)
    store = ViewStore(kit.store.db)  # `<MONGODB_DATABASE_PREFIX>viewstats`
    aggregator = Aggregator(settings, store, kit.broker, kit.publisher.publish_many)
    learning = LearningStore(kit.store.db)
    declare_outbox(kit.outbox)
    ledger = Ledger(learning, kit.outbox, settings.certificate_key.get_secret_value().encode())
    consumers.register(kit, settings, aggregator, ledger)
    app = kit.build_app(
        routers=[
            api.build_router(ViewStats(settings, store, lambda: aggregator.freshness_ms)),
            learning_api.build_router(settings, learning),
            api.dashboard_router(settings.dashboard_identity_url),
        ],
        title="View statistics",
        description="Page views, unique visitors and learning hours of the platform, exactly counted.",
    )
    app.state.aggregator = aggregator
    app.state.ledger = ledger
    return app
