"""Entry point of the xAPI exporter: ``uvicorn xapi.app:create_app --factory``.

A process of its own rather than a part of viewstats, the recommender or class groups: it reads the learning
events of all three and writes to a system outside the platform, so an LRS that is slow or down stalls only the
exporter's consumer groups (their lag grows and is alerted on), never the services' own; it holds no state (the
LRS is its store, the statement ids make it idempotent), scales and is granted Kafka ACLs on its own (principal
``xapi``: read the learning topics, write its dead-letter topics), and a deployment without an LRS leaves it out."""

from __future__ import annotations

from fastapi import FastAPI

from common.service import ServiceKit
from xapi import consumers
from xapi.domain.statements import Mapping
from xapi.lrs import LearningRecordStore
from xapi.settings import XapiSettings


def create_app(settings: XapiSettings | None = None) -> FastAPI:
    settings = settings or XapiSettings()
    kit = ServiceKit("xapi", settings)
    lrs = LearningRecordStore(settings)
    mapping = Mapping(settings.platform_iri.rstrip("/"), settings.pseudonym_key.get_secret_value().encode())
    consumers.register(kit, settings, lrs, mapping)
    kit.on_shutdown(lrs.close)
    app = kit.build_app(
        routers=[],
        title="xAPI exporter",
        description="Learning events as xAPI 1.0.3 statements in a Learning Record Store.",
    )
    app.state.lrs = lrs
    return app
