"""What the aggregator does beside counting, each in its own background task: publishing the popularity of its
partitions' resources (:mod:`viewstats.domain.popularity`: one publisher per resource, as one writer per shard),
and the retention of minute shards and of the sketches held in memory."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, date, datetime, timedelta

from common.contracts.base import Event
from common.contracts.viewstats import ResourcePopularityChanged
from viewstats.domain.counters import local_minute, minute_label
from viewstats.domain.partition import PartitionState, mark_published, popularity_changes
from viewstats.settings import ViewstatsSettings
from viewstats.store import ViewStore

log = logging.getLogger("viewstats.aggregator")
Publish = Callable[[Sequence[Event]], Awaitable[None]]


class _Background:
    """A loop that runs while the aggregator does."""

    name = ""
    _task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name=self.name)

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _loop(self) -> None:
        raise NotImplementedError


class Popularity(_Background):
    name = "viewstats-popularity"

    def __init__(self, states: dict[int, PartitionState], publish: Publish, interval_seconds: float) -> None:
        self.states = states
        self.send = publish
        self.interval_seconds = interval_seconds

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval_seconds)
            try:
                await self.publish()
            except Exception:
                log.exception("publishing popularity failed; next round in %.0f s", self.interval_seconds)

    async def publish(self, now_ms: int | None = None) -> int:
        """Publish the popularity of the owned partitions' resources whose figures changed since the last
        round (a resource that left the windows gets one last all-zero event); returns how many were sent."""
        now_ms = now_ms or int(time.time() * 1000)
        minute = local_minute(now_ms)
        as_of = datetime.fromtimestamp(now_ms / 1000, UTC)
        sent = 0
        for state in [st for st in self.states.values() if st.ready]:  # a seeding window would publish drops
            changed = popularity_changes(state, minute)
            if not changed:
                continue
            await self.send(
                [
                    ResourcePopularityChanged(
                        resource_id=r, views_last_hour=hour, views_last_day=day, trend=t, as_of=as_of
                    )
                    for r, (hour, day, t) in sorted(changed.items())
                ]
            )
            mark_published(state, changed)
            sent += len(changed)
        return sent


class Retention(_Background):
    name = "viewstats-retention"

    def __init__(
        self, settings: ViewstatsSettings, store: ViewStore, states: dict[int, PartitionState], lock: asyncio.Lock
    ) -> None:
        """``lock``: the flush's (see :meth:`forget_old_sketches`)."""
        self.settings = settings
        self.store = store
        self.states = states
        self.lock = lock

    async def _loop(self) -> None:
        """Hourly, drop the minute shards older than ``minute_retention_days`` (every instance may: dropping a
        dropped collection is a no-op), and forget the sketches of the days before yesterday held in memory."""
        while True:
            await asyncio.sleep(60)
            now = local_minute(int(time.time() * 1000))
            await self.forget_old_sketches(minute_label(now)[2])
            cutoff = minute_label(now - self.settings.minute_retention_days * 24 * 60)[1]
            try:
                if dropped := await self.store.drop_minutes_before(cutoff):
                    log.info("minute retention: dropped %s", ", ".join(dropped))
            except Exception:
                log.exception("minute retention failed; next round in an hour")
            await asyncio.sleep(3600 - 60)

    async def forget_old_sketches(self, today: str) -> None:
        """Without this, every day ever counted would stay in memory (≈ 20,000 resource sketches a day). A late view
        of a forgotten day has its stored sketches read again first (``sketch_days``). Under the flush lock: a
        flush in progress may put its groups back into ``dirty`` if its write fails, and those must be kept."""
        yesterday = (date.fromisoformat(today) - timedelta(days=1)).isoformat()
        async with self.lock:
            for state in self.states.values():
                state.sketch_days.difference_update(state.uniques.forget_days_before(yesterday))
