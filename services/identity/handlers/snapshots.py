"""The account-snapshot backfill: every account's snapshot published again on ``identity.accounts.v1``
(compacted, keyed by user id), for a topic created after the accounts were (or a subscriber that must start from
a complete topic). One run at a time per replica, page by page in id order (``IDENTITY_SNAPSHOT_PAGE_SIZE``
accounts, one query, one send, then ``IDENTITY_SNAPSHOT_PAUSE_SECONDS``): bounded memory and load. Observable:
``GET /v1/admin/account-snapshots`` (published, pages, the last id, finished or failed) and a log line per page.
A run that fails or is cut by a restart is started again: republishing a snapshot is idempotent (compaction
keeps the latest per key; subscribers apply it as a state)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from common.errors import Conflict
from common.outbox import Publisher
from identity.domain.snapshots import snapshot
from identity.handlers.base import now
from identity.settings import IdentitySettings
from identity.store import IdentityStore

log = logging.getLogger("identity.snapshots")


@dataclass
class BackfillRun:
    started_at: datetime
    started_by: str
    published: int = 0
    pages: int = 0
    last_id: str | None = None
    finished_at: datetime | None = None
    error: str | None = None

    @property
    def running(self) -> bool:
        return self.finished_at is None


class Snapshots:
    def __init__(self, store: IdentityStore, publisher: Publisher, settings: IdentitySettings) -> None:
        self.store, self.publisher = store, publisher
        self.page_size, self.pause = settings.snapshot_page_size, settings.snapshot_pause_seconds
        self.run: BackfillRun | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self, by: str) -> BackfillRun:
        if self.run is not None and self.run.running:
            raise Conflict("A backfill is running on this replica.", code="backfill_running")
        self.run = BackfillRun(now(), by)
        self._task = asyncio.create_task(self._backfill(self.run), name="account-snapshots")
        return self.run

    def status(self) -> dict[str, Any] | None:
        return asdict(self.run) | {"running": self.run.running} if self.run else None

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _backfill(self, run: BackfillRun) -> None:
        try:
            while True:
                page = await self.store.accounts.page(run.last_id, self.page_size)
                if not page:
                    break
                guardians = await self.store.links.guardians_of_many([a.id for a in page])
                at = now()
                await self.publisher.publish_many([snapshot(a, guardians.get(a.id, ()), at) for a in page])
                run.published += len(page)
                run.pages += 1
                run.last_id = page[-1].id
                log.info("account snapshots: page %d, %d published, up to %s", run.pages, run.published, run.last_id)
                await asyncio.sleep(self.pause)
        except Exception as exc:
            run.error = f"{type(exc).__name__}: {exc}"
            log.exception("account-snapshot backfill failed after %d", run.published)
        finally:
            run.finished_at = now()
