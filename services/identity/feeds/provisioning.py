"""What a subscriber gets in Kafka when it is registered, through the broker's admin API (confluent-kafka's
``AdminClient``: aiokafka has no SCRAM or ACL calls): its feed topic, a SCRAM-SHA-512 user named after it, and ACLs
that let that user read its feed topic, with consumer groups under its own prefix, and nothing else. Kafka denies
what no ACL allows (StandardAuthorizer), so another subscriber's feed and every platform topic are refused.

The password travels only in the admin request (SCRAM keeps a salted hash); it is never logged."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

from common.kafka import confluent_options
from common.settings import ServiceSettings
from common.topics import DAY_MS, feed_group_prefix, feed_topic

SCRAM_ITERATIONS = 8192


class FeedProvisioner:
    def __init__(self, settings: ServiceSettings, *, partitions: int, retention_hours: int) -> None:
        self._conf = confluent_options(settings)
        self._partitions = partitions
        self._retention_ms = retention_hours * 3600 * 1000
        self._admin: Any = None

    def _client(self) -> Any:
        if self._admin is None:
            from confluent_kafka.admin import AdminClient

            self._admin = AdminClient(self._conf)
        return self._admin

    async def provision(self, subscriber_id: str, password: str) -> None:
        """Feed topic, ACLs, then the user's password; raises ``KafkaException`` (the caller answers 503) when the
        broker refuses or is away. Every step is idempotent for the same subscriber id."""
        await asyncio.to_thread(self._provision, subscriber_id)
        await asyncio.to_thread(self._set_password, subscriber_id, password)

    async def revoke(self, subscriber_id: str) -> None:
        """The user's SCRAM credential deleted: the subscriber can no longer log in (its ACLs grant nothing)."""
        await asyncio.to_thread(self._revoke, subscriber_id)

    # --- blocking calls (threads) ------------------------------------------------------------------------
    def _provision(self, subscriber_id: str) -> None:
        from confluent_kafka import KafkaError, KafkaException
        from confluent_kafka.admin import (
            AclBinding,
            AclOperation,
            AclPermissionType,
            NewTopic,
            ResourcePatternType,
            ResourceType,
        )

        admin = self._client()
        topic = feed_topic(subscriber_id)
        config = {"cleanup.policy": "delete", "retention.ms": str(self._retention_ms or 7 * DAY_MS)}
        # replication -1: the broker's default.replication.factor (1 locally, 3 in production)
        for f in admin.create_topics([NewTopic(topic, self._partitions, -1, config=config)]).values():
            try:
                f.result(timeout=30)
            except KafkaException as exc:
                if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                    raise
        user = f"User:{subscriber_id}"
        allow = AclPermissionType.ALLOW
        bindings = [
            AclBinding(ResourceType.TOPIC, topic, ResourcePatternType.LITERAL, user, "*", op, allow)
            for op in (AclOperation.READ, AclOperation.DESCRIBE)
        ] + [
            AclBinding(
                ResourceType.GROUP, feed_group_prefix(subscriber_id), ResourcePatternType.PREFIXED, user, "*", op, allow
            )
            for op in (AclOperation.READ, AclOperation.DESCRIBE)
        ]
        for f in admin.create_acls(bindings).values():
            f.result(timeout=30)

    def _set_password(self, subscriber_id: str, password: str) -> None:
        from confluent_kafka.admin import ScramCredentialInfo, ScramMechanism, UserScramCredentialUpsertion

        info = ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, SCRAM_ITERATIONS)
        upsert = UserScramCredentialUpsertion(subscriber_id, info, password.encode(), secrets.token_bytes(32))
        for f in self._client().alter_user_scram_credentials([upsert]).values():
            f.result(timeout=30)

    def _revoke(self, subscriber_id: str) -> None:
        from confluent_kafka.admin import ScramMechanism, UserScramCredentialDeletion

        deletion = UserScramCredentialDeletion(subscriber_id, ScramMechanism.SCRAM_SHA_512)
        for f in self._client().alter_user_scram_credentials([deletion]).values():
            f.result(timeout=30)
