"""``create_app()`` of the feed router, identity's second process kind (principal ``identity-feeds``): the live
router and the replays, with the chassis's ``/healthz``, ``/readyz`` and ``/metrics``. It reads every offered topic,
so it is load-shaped like a hot consumer: its own deployment scales with the partitions of its group, apart from
identity's API. It reads identity's database (the subscribers, accounts' org paths): same service, same data owner.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from functools import partial
from typing import Any

from fastapi import FastAPI

from common.kafka import kafka_consumer, kafka_producer
from common.messaging import DeadLetters
from common.service import ServiceKit, measure_group
from common.topics import FEED_ROUTER, all_topics, group
from identity.domain.crypto import PiiVault
from identity.feeds.directory import Directory
from identity.feeds.replays import Replayer
from identity.feeds.router import Router
from identity.feeds.scope import Scope
from identity.settings import IdentitySettings
from identity.store import IdentityStore

log = logging.getLogger("identity.feeds")


def create_app(settings: IdentitySettings | None = None, *, router_type: type[Router] = Router) -> FastAPI:
    settings = settings or IdentitySettings()
    kit = ServiceKit(FEED_ROUTER, settings)
    # identity's own database (not one of its own): the subscribers and accounts it scopes by
    db = kit.store.client[f"{settings.mongodb_database_prefix}identity"]
    store = IdentityStore(db, kit.outbox)
    vault = PiiVault(settings.pii_keys, settings.pii_active_key, settings.lookup_key)
    directory = Directory(store.subscribers, vault, refresh_seconds=settings.feeds_refresh_seconds)
    scope = Scope(store.subscribers, store.accounts)
    declared = group(FEED_ROUTER)
    tasks: list[asyncio.Task[None]] = []
    clients: list[object] = []

    @kit.on_startup
    async def start() -> None:
        producer = kafka_producer(
            settings, client_id=FEED_ROUTER, enable_idempotence=True, acks="all", linger_ms=5, max_batch_size=1 << 20
        )
        consumer = kafka_consumer(
            *declared.topics,
            login=settings,
            group_id=f"{settings.kafka_client_prefix}{FEED_ROUTER}",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        await producer.start()
        await consumer.start()
        clients.extend([consumer, producer])
        dead = DeadLetters(kit.broker, service=FEED_ROUTER, group=FEED_ROUTER, topic=declared.dead_letter_topic)
        router = router_type(consumer, producer, directory, scope, dead, max_records=settings.feeds_batch_records)
        app.state.router = router

        def reader() -> object:
            return kafka_consumer(login=settings, enable_auto_commit=False)

        worker = f"{socket.gethostname()}:{os.getpid()}"
        replayer = Replayer(store.subscribers, directory, scope, producer, reader, worker=worker)
        tasks.append(asyncio.create_task(_forever(router.run, "router"), name="feeds-router"))
        tasks.append(asyncio.create_task(_forever(partial(_measure, consumer), "measure"), name="feeds-measure"))
        tasks.append(asyncio.create_task(_forever(replayer.run, "replays"), name="feeds-replays"))

    @kit.on_shutdown
    async def stop() -> None:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for c in clients:
            with contextlib.suppress(Exception):
                await c.stop()  # type: ignore[attr-defined]

    app = kit.build_app(title="Identity feed router", description="Subscriber feeds: routing and replays.")
    return app


async def _measure(consumer: Any) -> None:
    """The chassis' lag and dead-letter figures for the router's own consumer (ServiceKit measures only its own)."""
    partitions = {t.name: t.partitions for t in all_topics()}
    while True:
        await measure_group(FEED_ROUTER, FEED_ROUTER, consumer, list(consumer.assignment()), partitions)
        await asyncio.sleep(5)


async def _forever(run, name: str) -> None:  # type: ignore[no-untyped-def]
    while True:
        try:
            await run()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("feeds %s stopped on an error; starting it again", name)
            await asyncio.sleep(1.0)
