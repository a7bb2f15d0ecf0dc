"""The shared outbox on FerretDB and Kafka, in the shape identity will use it: an account document replaced in
place, each change carrying its events in the same single-document write."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from datetime import UTC, datetime

import pytest
from pymongo import AsyncMongoClient

from common.contracts.identity import USERS_TOPIC, UserDeactivated, UserUpdated
from common.service import ServiceKit
from common.settings import ServiceSettings
from tests.integration.viewstats.conftest import end_offsets, records_since

pytestmark = pytest.mark.integration


class Accounts:
    """An in-place store as identity's ``save_account`` would write it through the outbox (see the report and
    ``common.outbox``): the new state, the entries of earlier changes still unpublished, and this change's."""

    def __init__(self, kit: ServiceKit) -> None:
        self.kit = kit
        self.collection = kit.store.db["accounts"]
        kit.outbox.source("accounts")

    async def save(self, user_id: str, state: dict, *events) -> None:
        stored = await self.collection.find_one({"_id": user_id}) or {}
        change = self.kit.outbox.change("accounts", {user_id: list(events)})
        kept = await self.kit.outbox.unpublished(stored.get("outbox", []))
        async with change:
            await self.collection.replace_one(
                {"_id": user_id}, {"_id": user_id, **state, "outbox": kept + change.entries(user_id)}, upsert=True
            )


def kit_of(kafka_bootstrap: str, mongodb_url: str, prefix: str) -> ServiceKit:
    return ServiceKit(
        "identity",
        ServiceSettings(
            kafka_bootstrap_servers=kafka_bootstrap, mongodb_url=mongodb_url, mongodb_database_prefix=prefix
        ),
    )


async def test_an_account_updated_in_place_loses_no_event_of_earlier_changes(kafka_bootstrap, mongodb_url) -> None:
    prefix, user = f"test_{uuid.uuid4().hex[:8]}_outbox_", f"u_{uuid.uuid4().hex}"
    starts = await end_offsets(kafka_bootstrap, USERS_TOPIC)
    now = datetime.now(UTC)
    # A process whose relay never publishes (it died, or Kafka was down until it stopped): three changes of
    # the same account, each replacing the document.
    dead = kit_of(kafka_bootstrap, mongodb_url, prefix)
    accounts = Accounts(dead)
    await accounts.save(user, {"status": "active"}, UserUpdated(user_id=user, occurred_at=now, changed=("password",)))
    await accounts.save(
        user, {"status": "active", "n": 2}, UserUpdated(user_id=user, occurred_at=now, changed=("name",))
    )
    await accounts.save(user, {"status": "deactivated"}, UserDeactivated(user_id=user, occurred_at=now, by=user))
    stored = await accounts.collection.find_one({"_id": user})
    assert stored["status"] == "deactivated" and len(stored["outbox"]) == 3  # the third write kept the first two
    await dead.store.close()

    kit = kit_of(kafka_bootstrap, mongodb_url, prefix)
    accounts = Accounts(kit)
    await kit.broker.connect()
    try:
        swept = await kit.outbox.relay.sweep(min_age=0)  # the next process's relay: its first sweep
        assert (swept.pointers, swept.events) == (3, 3)
        kit.outbox.relay.start()
        await accounts.save(user, {"status": "active"}, UserUpdated(user_id=user, occurred_at=now, changed=("status",)))
        await kit.outbox.relay.stop()  # publishes what it holds first
        stored = await accounts.collection.find_one({"_id": user})
        assert len(stored["outbox"]) == 1  # published entries are not carried any further
        assert await kit.store.db["outbox"].count_documents({}) == 0
    finally:
        await kit.broker.stop()
        mongo = AsyncMongoClient(mongodb_url)
        await mongo.drop_database(f"{prefix}identity")
        await mongo.close()
        await kit.store.close()

    mine = [r for r in await records_since(kafka_bootstrap, starts) if r.key == user]
    assert [type(r.event).__name__ for r in mine] == ["UserUpdated", "UserUpdated", "UserDeactivated", "UserUpdated"]
    assert [r.event.changed for r in mine if isinstance(r.event, UserUpdated)] == [
        ("password",),
        ("name",),
        ("status",),
    ]
    assert max(Counter(r.id for r in mine).values()) == 1


async def test_two_replicas_sweeping_at_once_lose_nothing_and_a_late_write_is_still_published(
    kafka_bootstrap, mongodb_url
) -> None:
    prefix, tag = f"test_{uuid.uuid4().hex[:8]}_outbox_", uuid.uuid4().hex[:8]
    starts = await end_offsets(kafka_bootstrap, USERS_TOPIC)
    now = datetime.now(UTC)
    users = [f"u_{tag}_{n}" for n in range(40)]
    dead = kit_of(kafka_bootstrap, mongodb_url, prefix)  # wrote, then died before its relay published
    accounts = Accounts(dead)
    for user in users:
        await accounts.save(user, {"status": "active"}, UserUpdated(user_id=user, occurred_at=now, changed=("name",)))
    # A change of two accounts whose second write is still in flight when the sweeps come.
    late, early = f"u_{tag}_late", f"u_{tag}_early"
    change = dead.outbox.change(
        "accounts",
        {u: [UserUpdated(user_id=u, occurred_at=now, changed=("roles",))] for u in (early, late)},
    )
    await change.announce()
    await accounts.collection.insert_one({"_id": early, "outbox": change.entries(early)})

    replicas = [kit_of(kafka_bootstrap, mongodb_url, prefix) for _ in range(2)]
    try:
        for kit in replicas:
            Accounts(kit)
            await kit.broker.connect()
        await asyncio.gather(*(kit.outbox.relay.sweep(min_age=0) for kit in replicas))
        await accounts.collection.insert_one({"_id": late, "outbox": change.entries(late)})  # it lands
        await replicas[0].outbox.relay.sweep(min_age=0)
        assert await dead.store.db["outbox"].count_documents({}) == 0
    finally:
        for kit in replicas:
            await kit.broker.stop()
            await kit.store.close()
        mongo = AsyncMongoClient(mongodb_url)
        await mongo.drop_database(f"{prefix}identity")
        await mongo.close()
        await dead.store.close()

    mine = [r for r in await records_since(kafka_bootstrap, starts) if r.key and r.key.startswith(f"u_{tag}_")]
    assert Counter(r.key for r in mine if r.event.changed == ("name",)).keys() == set(users)
    by_key = Counter(r.key for r in mine if r.event.changed == ("roles",))
    assert by_key.keys() == {early, late} and by_key[late] == 1  # the early one may go out twice, never none
