"""The catalog's feed (``catalog.resources.v1``, compacted, keyed by resource id) into what class groups know of
the public catalog: which resources are published, with their titles. Class groups never read the catalog's
database; a studio shares, and an activity carries, only what this feed says is published, and a resource
withdrawn later drops out of the studio's page."""

from __future__ import annotations

from classgroups.domain.studios import newer_catalog_record
from classgroups.store import ClassGroupsStore
from common.contracts.catalog import ResourcePublished, ResourceWithdrawn
from common.messaging import Envelope


class CatalogFeed:
    def __init__(self, store: ClassGroupsStore) -> None:
        self.store = store

    async def apply(self, envelopes: list[Envelope]) -> int:
        """Apply a batch in order (one writer per resource: the consumer of its partition); any other event type
        or version is left alone. Returns how many records changed what is held."""
        changed = 0
        for env in envelopes:
            event = env.event
            if isinstance(event, ResourcePublished):
                rid, published, title = event.resource.id, True, event.resource.title
            elif isinstance(event, ResourceWithdrawn):
                rid, published, title = event.resource_id, False, None
            else:
                continue
            if not newer_catalog_record(await self.store.studios.catalog_cursor(rid), event.cursor):
                continue
            await self.store.studios.put_catalog(rid, published=published, title=title, cursor=event.cursor)
            changed += 1
        return changed
