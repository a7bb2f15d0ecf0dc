"""Which resource ids the catalog knows: only their views are counted per resource.

Beacons are anonymous and may name any ``resource_id``. Counted as they come, made-up ids would enter the
rankings (``/v1/stats/top``, popularity events) and grow the per-resource maps without bound: one hour shard of a
partition holds its resources in one document, and ~240k distinct ids pushed it past MongoDB's 16 MiB, after which
no flush could succeed. So the aggregator counts a view under its resource only when the catalog published that
resource; the views of other ids still count in the platform's totals, sections, provinces and countries
(they are real requests, and dropping them would let nobody notice), never per resource.

The ids come from viewstats' own projection of the catalog's feed: the ``viewstats-catalog`` consumer records
every ``ResourcePublished`` in ``resources`` (insert-only). The aggregator holds them in memory, read whole when it
is first assigned partitions (before they resume). A flush never waits for the store here: when it meets ids it
does not know and the last read is ``refresh_seconds`` old, a background task reads the ids recorded since (a
margin before) the last read. So a resource published a moment ago counts per resource from the first flush after
that read (its catalog event recorded, then at most ``refresh_seconds`` and one read later); its views before that
count in the platform's totals only. A stream of made-up ids costs one read every ``refresh_seconds``, not one per
id, and never delays a flush (FerretDB scans the collection: ≈ 1 s for 20,000 resources on a loaded machine).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from viewstats.store import ViewStore

log = logging.getLogger("viewstats.listing")
MARGIN = timedelta(minutes=2)  # records inserted around a read (clock skew between the writer and the store)


class ListedResources:
    def __init__(self, store: ViewStore, refresh_seconds: float) -> None:
        self.store = store
        self.refresh_seconds = refresh_seconds
        self.ids: set[str] = set()
        self._read_at: datetime | None = None  # wall time of the last read (None: never read)
        self._read_mono = float("-inf")
        self._refreshing: asyncio.Task[None] | None = None

    @property
    def loaded(self) -> bool:
        return self._read_at is not None

    def unknown(self, resource_ids: Iterable[str]) -> set[str]:
        """Those of ``resource_ids`` the catalog has not published (as far as the projection read so far says);
        unknown ones start a background read of the newly recorded ids, at most every ``refresh_seconds``."""
        ids = self.ids
        missing = {r for r in resource_ids if r not in ids}
        if missing and self._refreshing is None and time.monotonic() - self._read_mono >= self.refresh_seconds:
            self._refreshing = asyncio.create_task(self._refresh_in_background(), name="viewstats-listing")
        return missing

    async def refresh(self) -> None:
        """Read the ids recorded since the last read (all of them the first time)."""
        now = datetime.now(UTC)
        since = self._read_at - MARGIN if self._read_at is not None else None
        self.ids |= await self.store.listed_resources(since)
        self._read_at, self._read_mono = now, time.monotonic()

    async def _refresh_in_background(self) -> None:
        try:
            await self.refresh()
        except Exception:
            log.warning("reading the catalog's resource ids failed; next try in %.0f s", self.refresh_seconds)
            self._read_mono = time.monotonic()
        finally:
            self._refreshing = None

    async def stop(self) -> None:
        if self._refreshing is not None:
            self._refreshing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refreshing
