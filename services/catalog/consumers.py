"""Thin subscribers: the replica's read model follows the catalog's own topic and viewstats' popularity."""

from __future__ import annotations

from catalog.service import Catalog
from common.contracts.catalog import ResourcePublished
from common.contracts.viewstats import ResourcePopularityChanged
from common.messaging import Envelope
from common.service import ServiceKit


def register(kit: ServiceKit, service: Catalog, replica_id: str) -> None:
    @kit.consumer(
        topic=ResourcePublished.TOPIC,
        group="catalog-index",
        batch=True,
        max_records=2000,
        group_suffix=f"-{replica_id}",
    )
    async def on_catalog_changes(envelopes: list[Envelope]) -> None:
        read = service.read
        for env in envelopes:
            # The record's place on the topic is the change feed's position (see catalog.feed).
            read.apply_event(env.event, at=(env.partition, env.offset))
        read.index.commit()

    @kit.consumer(
        topic=ResourcePopularityChanged.TOPIC,
        group="catalog-popularity",
        batch=True,
        max_records=2000,
        group_suffix=f"-{replica_id}",
    )
    async def on_popularity(envelopes: list[Envelope]) -> None:
        scores = {}
        for env in envelopes:
            if isinstance(env.event, ResourcePopularityChanged):
                # Hot = views of the last day, with the last hour weighing in so rising items surface.
                scores[env.event.resource_id] = env.event.views_last_day + 6.0 * env.event.views_last_hour
        service.read.set_popularity(scores)
        service.read.index.commit()
