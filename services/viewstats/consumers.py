"""viewstats' consumers: which topic each group reads and what handles it.

- ``viewstats-aggregator`` (views → counters): not a chassis consumer, see :mod:`viewstats.aggregator`;
- ``viewstats-catalog`` (``catalog.resources.v1`` → courses and listed resources) and ``viewstats-learning``
  (heartbeats → learning hours): chassis consumers (``ServiceKit.consumer``: commit after the handler, dead
  letters, metrics) handled by the :class:`~viewstats.learning.Ledger`.
"""

from __future__ import annotations

from common.contracts.catalog import ResourcePublished
from common.service import ServiceKit
from viewstats.aggregator import Aggregator
from viewstats.learning import Ledger
from viewstats.settings import ViewstatsSettings


def register(kit: ServiceKit, settings: ViewstatsSettings, aggregator: Aggregator, ledger: Ledger) -> None:
    """Wire the consumers this process runs (``VIEWSTATS_RUN_AGGREGATOR``, ``VIEWSTATS_RUN_LEARNING``)."""
    if settings.run_aggregator:
        kit.on_startup(aggregator.start)
        kit.on_shutdown(aggregator.stop)
    if settings.run_learning:
        kit.consumer(topic=ResourcePublished.TOPIC, group="viewstats-catalog", batch=True, max_records=1000)(
            ledger.on_catalog
        )
        kit.consumer(topic=settings.heartbeats_topic, group="viewstats-learning", batch=True, max_records=1000)(
            ledger.on_heartbeats
        )
