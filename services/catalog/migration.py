"""The local channels' move to GB/T 2260 codes, at every start until it is done (see
``CatalogStore.migrate_local_channels``): the stored revisions are rewritten first, then every public
local-channel resource is published once more, so that the compacted topic's last record of it is a
``ResourcePublished`` v2 carrying the code (the v1 record with letters it replaces is compacted away) and
outside subscribers get the code without mapping anything."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from catalog.domain.resource import change_cursor
from catalog.service import CatalogService, public_of
from catalog.store import RevisionConflict, revision_id
from common.contracts.catalog import ResourcePublished

log = logging.getLogger("catalog.migration")


async def load_heads_after_migrations(service: CatalogService) -> None:
    """The start-up's background part: the store rewritten first (so that the editorial heads are read with
    codes), the heads loaded (``CatalogService.load_heads_in_background``), then the republishing. A failed
    migration is logged, never raised: reads map the former letters meanwhile, and the next start carries on."""
    resources = None
    try:
        resources = await service.store.migrate_local_channels()
    except Exception:
        log.exception("rewriting the stored local channels as GB/T 2260 codes failed; the next start retries")
    await service.load_heads_in_background()
    if resources is None:
        return
    try:
        republished = sum([await republish(service, rid) for rid in resources])
        await service.store.local_channels_republished()
        if republished:
            log.info("published %d local-channel resources again, as ResourcePublished v2", republished)
    except Exception:
        log.exception("publishing local channels again failed; the next start carries on")


async def republish(service: CatalogService, rid: str) -> bool:
    """Publish a public resource's current snapshot again, as a new revision that changes nothing else: its
    event has a new cursor, so every subscriber replaces the record it holds (same version, same content)."""
    entry = service.read.entries.get(rid)
    if entry is None or not entry.public:
        return False  # a draft, or withdrawn: nothing public to replace
    async with service._locks[rid]:
        doc = await service.store.latest(rid, entry.rev)
        public = public_of(doc) if doc is not None else None
        if doc is None or public is None:
            return False
        rev = doc["rev"] + 1
        new = {k: v for k, v in doc.items() if k != "events"} | {"_id": revision_id(rid, rev), "rev": rev}
        event = ResourcePublished(
            resource=public, cursor=change_cursor(datetime.now(UTC), rid), credit_hours=public.get("credit_hours")
        )
        try:
            await service.store.append(new, service.change([(new, [event])]))
        except RevisionConflict:
            return False  # changed meanwhile: that change publishes v2 itself
        service._note(new)
        service._apply_events([event])
        service.read.index.commit()
        return True
