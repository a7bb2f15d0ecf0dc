"""The aggregator alone in its process (``python -m viewstats.aggregator``): what the benchmarks run several of,
and what the exactness tests kill (``tests/integration/viewstats/crashing_aggregator.py`` runs it with an aggregator
that dies at a chosen point)."""

from __future__ import annotations

import asyncio
import logging
import os
import signal

from pymongo import AsyncMongoClient

from common.kafka import kafka_broker
from common.messaging import EventPublisher
from viewstats.aggregator.flush import SERVICE
from viewstats.aggregator.loop import Aggregator
from viewstats.settings import ViewstatsSettings
from viewstats.store import ViewStore


async def main(aggregator_type: type[Aggregator] = Aggregator) -> None:
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"), format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("viewstats").setLevel(os.environ.get("VIEWSTATS_LOG_LEVEL", "INFO"))
    settings = ViewstatsSettings()
    client: AsyncMongoClient = AsyncMongoClient(
        settings.mongodb_url, tz_aware=True, maxPoolSize=settings.mongodb_max_pool_size
    )
    broker = kafka_broker(settings, client_id="smartedu-viewstats", enable_idempotence=True)
    await broker.connect()
    publisher = EventPublisher(broker, SERVICE)
    aggregator = aggregator_type(settings, ViewStore(client[settings.database_name()]), broker, publisher.publish_many)
    await aggregator.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await aggregator.stop()
    await broker.stop()
    await client.close()
