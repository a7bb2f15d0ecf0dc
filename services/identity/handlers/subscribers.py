"""Subscriber systems: registration by a ministry admin (feed topic, Kafka user and ACLs, HTTP login), replays
asked by the admin or the subscriber, the HTTP feed. Why in identity: it already registers the other systems that
call the platform (OIDC relying parties) and keeps their secrets; a subscriber is one more such system, with one
password for its Kafka login and its HTTP feed (docs/SUBSCRIBERS.md)."""

from __future__ import annotations

import hmac
import secrets
import uuid
from datetime import UTC, datetime
from typing import Any

from common.auth import MINISTRY_ADMIN, Principal
from common.errors import NotFound
from identity.domain import crypto
from identity.domain.subscribers import Subscriber, check_registration, check_replay
from identity.feeds.directory import Directory, seal_key
from identity.feeds.provisioning import FeedProvisioner
from identity.feeds.reader import decode_cursor, read_page
from identity.handlers.base import Handler
from identity.store.subscribers import SubscriberStore


class Subscribers(Handler):
    def __init__(self, identity: Any) -> None:
        super().__init__(identity)
        s = identity.s
        # the adapters to Kafka (replaced by tests that need a refusing broker)
        self.provisioner = FeedProvisioner(s, partitions=s.feed_partitions, retention_hours=s.feed_retention_hours)
        self.directory = Directory(self.store.subscribers, self.vault, refresh_seconds=0)
        self.new_reader: Any = None  # set by the app: a factory of group-less aiokafka consumers

    async def register(
        self,
        who: Principal,
        *,
        name: str,
        kind: str,
        event_types: list[str],
        provinces: list[str],
        pseudonymise: bool,
        exclude_fields: list[str],
    ) -> tuple[Subscriber, str]:
        """The subscriber and its password (shown once: Kafka SCRAM login and HTTP feed login)."""
        who.require(MINISTRY_ADMIN, org=None)
        check_registration(name, kind, event_types, provinces, exclude_fields)
        subscriber = Subscriber(
            id=f"sub-{uuid.uuid4().hex[:12]}",
            name=name,
            kind=kind,  # type: ignore[arg-type]
            event_types=tuple(dict.fromkeys(event_types)),
            provinces=tuple(sorted(set(provinces))),
            pseudonymise=pseudonymise,
            exclude_fields=tuple(exclude_fields),
            registered_at=datetime.now(UTC),
            key=secrets.token_bytes(32),
        )
        password = secrets.token_urlsafe(32)
        # Kafka first: a registration whose Kafka part failed stores nothing (503, ask again); one that stored
        # nothing after Kafka's part leaves a user nobody knows the password of
        await self.provisioner.provision(subscriber.id, password)
        await self.store.subscribers.create(
            subscriber,
            sealed_key=seal_key(self.vault, subscriber.id, subscriber.key),
            password_digest=crypto.token_digest(password),
        )
        await self.store.audit.record(who.subject, "subscriber.register", subscriber.id)
        return subscriber, password

    async def get(self, who: Principal, subscriber_id: str) -> Subscriber:
        who.require(MINISTRY_ADMIN, org=None)
        return await self._known(subscriber_id)

    async def all(self, who: Principal) -> list[Subscriber]:
        who.require(MINISTRY_ADMIN, org=None)
        return [SubscriberStore.subscriber_of(d, b"") for d in await self.store.subscribers.all()]

    async def deactivate(self, who: Principal, subscriber_id: str) -> None:
        """No more feed records, no Kafka login (its SCRAM credential is deleted), no HTTP feed."""
        who.require(MINISTRY_ADMIN, org=None)
        await self._known(subscriber_id)
        await self.provisioner.revoke(subscriber_id)
        await self.store.subscribers.set_active(subscriber_id, False)
        await self.store.audit.record(who.subject, "subscriber.deactivate", subscriber_id)

    async def authenticate(self, subscriber_id: str, password: str) -> Subscriber | None:
        """The active subscriber whose password this is (HTTP Basic of the feed routes), else None."""
        found = await self.store.subscribers.get(subscriber_id)
        if found is None or not found[0].get("active"):
            return None
        if not hmac.compare_digest(found[0]["password"], crypto.token_digest(password)):
            return None
        return await self.directory.one(subscriber_id)

    # --- replays ------------------------------------------------------------------------------------------
    async def ask_replay(self, subscriber: Subscriber, asked_by: str, body: dict[str, Any]) -> dict[str, Any]:
        s = self.s
        window = check_replay(
            subscriber,
            body["event_types"],
            body["province"],
            body["since"],
            body["until"],
            body["max_records"] or s.replay_max_records,
            now=datetime.now(UTC),
            max_window_hours=s.replay_max_window_hours,
            max_records_limit=s.replay_max_records,
        )
        doc = await self.store.subscribers.add_replay(subscriber.id, uuid.uuid4().hex[:16], window, asked_by)
        return replay_view(doc)

    async def replay(self, subscriber: Subscriber, replay_id: str) -> dict[str, Any]:
        doc = await self.store.subscribers.replay(subscriber.id, replay_id)
        if doc is None:
            raise NotFound("No such replay of this subscriber", code="replay")
        return replay_view(doc)

    async def known(self, subscriber_id: str) -> Subscriber:
        return await self._known(subscriber_id)

    # --- the HTTP feed --------------------------------------------------------------------------------------
    async def page(self, subscriber: Subscriber, cursor: str | None, limit: int) -> dict[str, Any]:
        positions = decode_cursor(cursor)  # a bad cursor is refused before any Kafka work
        consumer = self.new_reader()
        await consumer.start()
        try:
            return await read_page(consumer, subscriber.topic, positions, limit)
        finally:
            await consumer.stop()

    async def _known(self, subscriber_id: str) -> Subscriber:
        s = await self.directory.one(subscriber_id)
        if s is None:
            raise NotFound("No such subscriber", code="subscriber")
        return s


def replay_view(doc: dict[str, Any]) -> dict[str, Any]:
    return {
        "replay_id": doc["_id"].rsplit(":", 1)[-1],
        "subscriber_id": doc["subscriber"],
        "state": doc["state"],
        "event_types": doc["event_types"],
        "province": doc["province"],
        "since": doc["since"],
        "until": doc["until"],
        "max_records": doc["max_records"],
        "scanned": doc.get("scanned", 0),
        "routed": doc.get("routed", 0),
        "truncated": doc.get("truncated", False),
        "error": doc.get("error"),
    }
