"""The feed router with a crash point, for tests only: the first batch that holds several records keyed
``FEEDS_CRASH_KEY`` is routed up to the middle of those (acknowledged by Kafka), then the process dies (SIGKILL) before
anything is committed."""

from __future__ import annotations

import os
import signal

from fastapi import FastAPI

from identity.feeds.app import create_app as create_router
from identity.feeds.router import Router


class _DiesMidBatch(Router):
    async def route(self, records) -> None:  # type: ignore[no-untyped-def]
        key = os.environ["FEEDS_CRASH_KEY"].encode()
        ours = [i for i, r in enumerate(records) if r.key == key]
        if len(ours) > 1:  # the batch of the class's check-in reviews: half of them out, then die
            await super().route(records[: ours[len(ours) // 2]])
            os.kill(os.getpid(), signal.SIGKILL)
        await super().route(records)


def create_app() -> FastAPI:
    return create_router(router_type=_DiesMidBatch)
