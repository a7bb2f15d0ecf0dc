"""Entry point of the collector process: ``uvicorn viewstats.collector.app:create_app --factory``."""

from __future__ import annotations

from fastapi import FastAPI

from common.service import ServiceKit
from viewstats.collector.api import build_router
from viewstats.collector.service import Collector
from viewstats.settings import ViewstatsSettings


class CollectorSettings(ViewstatsSettings):
    DEV_SECRETS = ()  # derives no certificate numbers: it is not given the certificate key, production needs none


def create_app(settings: ViewstatsSettings | None = None) -> FastAPI:
    settings = settings or CollectorSettings()
    kit = ServiceKit("viewstats-collector", settings)
    collector = Collector(settings)
    kit.on_startup(collector.start)
    kit.on_shutdown(collector.stop)
    app = kit.build_app(
        routers=[build_router(collector)],
        title="View statistics collector",
        description="Receives view beacons and heartbeats and puts them on Kafka.",
        body_limits={"/v1/views": settings.collector_max_body_bytes},
    )
    app.state.collector = collector
    return app
