"""The registered subscribers as the feed processes see them: read from the store, keys opened with the PII vault,
refreshed every ``feeds_refresh_seconds`` (a registration reaches the router within that)."""

from __future__ import annotations

import base64
import time

from identity.domain.crypto import PiiVault
from identity.domain.subscribers import Subscriber
from identity.store.subscribers import SubscriberStore

KEY_FIELD = "subscriber_key"


def seal_key(vault: PiiVault, subscriber_id: str, key: bytes) -> str:
    return vault.encrypt(base64.b64encode(key).decode(), field=KEY_FIELD, owner=subscriber_id)


def open_key(vault: PiiVault, subscriber_id: str, sealed: str) -> bytes:
    return base64.b64decode(vault.decrypt(sealed, field=KEY_FIELD, owner=subscriber_id))


class Directory:
    def __init__(self, store: SubscriberStore, vault: PiiVault, *, refresh_seconds: float) -> None:
        self.store, self.vault, self.refresh_seconds = store, vault, refresh_seconds
        self._subscribers: list[Subscriber] = []
        self._at = float("-inf")

    async def current(self) -> list[Subscriber]:
        if time.monotonic() - self._at >= self.refresh_seconds:
            docs = await self.store.all()
            self._subscribers = [
                SubscriberStore.subscriber_of(d, open_key(self.vault, d["_id"].removeprefix("sub:"), d["key"]))
                for d in docs
                if d.get("active")
            ]
            self._at = time.monotonic()
        return self._subscribers

    async def one(self, subscriber_id: str) -> Subscriber | None:
        found = await self.store.get(subscriber_id)
        if found is None:
            return None
        doc, sealed = found
        return SubscriberStore.subscriber_of(doc, open_key(self.vault, subscriber_id, sealed))
