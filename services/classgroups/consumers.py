"""Thin subscribers: identity's account events keep the directory current (role changes take effect as soon
as they arrive, without a restart)."""

from __future__ import annotations

from classgroups.handlers.directory import Directory
from common.contracts.identity import USERS_TOPIC
from common.messaging import Envelope
from common.service import ServiceKit


def register(kit: ServiceKit, directory: Directory) -> None:
    @kit.consumer(topic=USERS_TOPIC, group="classgroups-identity", batch=True, max_records=500)
    async def on_accounts(envelopes: list[Envelope]) -> None:
        await directory.apply(envelopes)
