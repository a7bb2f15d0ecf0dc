"""An identity process with a crash point, for tests only: it dies (SIGKILL) the first time its outbox relay
publishes, that is after a request stored its state with its events and before any of them reached Kafka."""

from __future__ import annotations

import os
import signal

from fastapi import FastAPI

from identity.app import create_app as create_identity


class _DiesOnPublish:
    async def publish_many(self, events, *, event_ids=None) -> None:
        os.kill(os.getpid(), signal.SIGKILL)


def create_app() -> FastAPI:
    app = create_identity()
    app.state.kit.outbox.relay.publisher = _DiesOnPublish()
    return app
