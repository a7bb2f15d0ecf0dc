"""The local channels' move to GB/T 2260 codes, at every start until it is done (see
``CatalogStore.migrate_local_channels``): the stored revisions are rewritten first, then every public
local-channel resource is published once more, so that the compacted topic's last record of it is a
``ResourcePublished`` v2 carrying the code (the v1 record with letters it replaces is compacted away) and
outside subscribers get the code without mapping anything."""

from __future__ import annotations

import logging
from contextlib import suppress

from catalog.service import Catalog
from common.errors import Conflict

log = logging.getLogger("catalog.migration")


async def load_heads_after_migrations(catalog: Catalog) -> None:
    """The start-up's background part: the store rewritten first (so that the editorial heads are read with
    codes), the heads loaded (``Replica.load_heads_in_background``), then the republishing. A failed migration
    is logged, never raised: reads map the former letters meanwhile, and the next start carries on."""
    resources = None
    try:
        resources = await catalog.store.migrate_local_channels()
    except Exception:
        log.exception("rewriting the stored local channels as GB/T 2260 codes failed; the next start retries")
    await catalog.replica.load_heads_in_background()
    if resources is None:
        return
    try:
        republished = 0
        for rid in resources:
            with suppress(Conflict):  # changed meanwhile, three times: that change published v2 itself
                republished += await catalog.editorial.announce_again(rid)
        await catalog.store.local_channels_republished()
        if republished:
            log.info("published %d local-channel resources again, as ResourcePublished v2", republished)
    except Exception:
        log.exception("publishing local channels again failed; the next start carries on")
