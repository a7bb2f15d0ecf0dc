"""``create_app()``: identity on the service chassis."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from pymongo import IndexModel

from common.auth import install_verifier
from common.kafka import kafka_consumer
from common.service import ServiceKit
from identity.api import routers
from identity.handlers import Identity
from identity.handlers.snapshots import Snapshots
from identity.registry import TeacherRegistry
from identity.settings import IdentitySettings
from identity.store import IdentityStore, declare_outbox

log = logging.getLogger("identity")


def create_app(settings: IdentitySettings | None = None, *, registry: TeacherRegistry | None = None) -> FastAPI:
    settings = settings or IdentitySettings()
    kit = ServiceKit("identity", settings)
    # accounts, reset codes and link decisions carry the events of their changes, relayed by ``kit.outbox``
    declare_outbox(kit.outbox)
    store = IdentityStore(kit.store.db, kit.outbox)
    # counters are found by their slot prefix ``c``, locks by subject, expired documents by ``exp`` (on
    # MongoDB index lookups; FerretDB scans these small collections either way)
    kit.store.declare_indexes("throttle", [IndexModel("c"), IndexModel("s"), IndexModel("exp")])
    kit.store.declare_indexes("resets", [IndexModel("c"), IndexModel("exp")])
    registry = registry or TeacherRegistry(settings.teacher_registry_url)
    service = Identity(settings, store, registry)
    snapshots = Snapshots(store, kit.publisher, settings)
    # the HTTP feed reads subscribers' feed topics without a consumer group (identity's login reads feed.*)
    service.subscribers.new_reader = lambda: kafka_consumer(login=settings, enable_auto_commit=False)
    tasks: list[asyncio.Task[None]] = []

    async def keep_keys_fresh() -> None:
        # every replica reloads the ring (another replica may have rotated) and rotates when due
        while True:
            await asyncio.sleep(60)
            try:
                await service.keys.maybe_rotate()
            except Exception:
                log.exception("signing key refresh failed")
            try:
                await store.counters.purge_expired()  # failure slots, locks, rate-limit slots, reset codes
            except Exception:
                log.exception("purge of expired counters failed")

    @kit.on_startup
    async def start() -> None:
        await service.load()
        tasks.append(asyncio.create_task(keep_keys_fresh(), name="identity-keys"))

    @kit.on_shutdown
    async def stop() -> None:
        await snapshots.stop()
        for t in tasks:
            t.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await t
        await registry.close()

    app = kit.build_app(
        routers=routers,
        title="Identity (统一身份认证)",
        description="Accounts, roles over the school hierarchy, tokens, SSO, teacher verification.",
    )
    app.state.identity = service
    if settings.browser_origins:
        # The platform's pages (the statistics dashboard) post to the login, refresh and logout routes from their
        # own origin. Tokens travel in bodies and Authorization headers, never cookies: no credentials mode.
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.browser_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type"],
            expose_headers=["Retry-After"],
            max_age=600,
        )
    app.state.snapshots = snapshots
    install_verifier(app, service.verifier)
    return app
