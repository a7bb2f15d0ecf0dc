"""Accounts older than ``identity.users.v1``'s retention: identity keeps every account's latest state on the
compacted ``identity.accounts.v1`` (in the same outbox write as each change, and again on demand by the backfill),
and a class groups deployed after the users topic lost the account's events learns it from the snapshots.

The users topic's retention is played for real: after identity wrote the account's events, the records of
``identity.users.v1`` are deleted up to their end (Kafka's DeleteRecords, what retention does), then class groups
starts fresh, with new consumer groups and an empty database."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from aiokafka import TopicPartition
from aiokafka.admin import RecordsToDelete
from asgi_lifespan import LifespanManager
from pymongo import AsyncMongoClient

from classgroups.app import create_app
from classgroups.settings import ClassGroupsSettings
from common.auth import install_verifier
from common.contracts.identity import USERS_TOPIC
from common.kafka import kafka_admin
from common.messaging import kafka_client_options
from common.topics import topic
from tests.integration.classgroups.conftest import SCHOOL, Running, Tokens
from tests.integration.identity.conftest import running_identity

pytestmark = pytest.mark.integration


@contextlib.asynccontextmanager
async def fresh_classgroups(mongodb_url: str, tokens: Tokens) -> AsyncIterator[Running]:
    run = uuid.uuid4().hex[:8]
    settings = ClassGroupsSettings(
        mongodb_database_prefix=f"test_classgroups_{run}_", kafka_client_prefix=f"test-{run}-"
    )
    app = create_app(settings)
    install_verifier(app, tokens.verifier())
    try:
        async with (
            LifespanManager(app, startup_timeout=120, shutdown_timeout=60) as manager,
            httpx.AsyncClient(transport=httpx.ASGITransport(app=manager.app), base_url="http://cg") as client,
        ):
            yield Running(app, client, tokens)
    finally:
        mongo = AsyncMongoClient(mongodb_url, timeoutMS=30_000)
        await mongo.drop_database(f"test_classgroups_{run}_classgroups")
        await mongo.close()


async def users_topic_retention() -> None:
    """Delete every record of identity.users.v1 written so far, as retention would after 30 days."""
    admin = kafka_admin(kafka_client_options())
    await admin.start()
    try:
        parts = [TopicPartition(USERS_TOPIC, p) for p in range(topic(USERS_TOPIC).partitions)]
        from aiokafka import AIOKafkaConsumer

        consumer = AIOKafkaConsumer(**kafka_client_options())
        await consumer.start()
        try:
            ends = await consumer.end_offsets(parts)
        finally:
            await consumer.stop()
        await admin.delete_records({tp: RecordsToDelete(ends[tp]) for tp in parts if ends[tp] > 0}, timeout_ms=30_000)
    finally:
        await admin.close()


async def test_a_fresh_class_groups_learns_old_accounts_from_the_snapshot_topic(mongodb_url: str, tokens) -> None:
    async with running_identity(mongodb_url) as idn:
        admin_id, admin_phone = await idn.register("teacher")
        await idn.make(admin_id, "ministry_admin")
        admin = await idn.bearer(admin_phone)
        student, _ = await idn.register("student")
        parent, parent_phone = await idn.register("parent")
        grant = {"user_id": student, "role": "student", "org": SCHOOL}
        assert (await idn.client.post("/v1/role-grants", json=grant, headers=admin)).status_code == 200
        r = await idn.client.post(
            "/v1/guardian-links", json={"child_id": student}, headers=await idn.bearer(parent_phone)
        )
        assert r.status_code == 201, r.text
        r = await idn.client.post(f"/v1/guardian-links/{student}/{parent}/approve", headers=admin)
        assert r.status_code == 200, r.text
        await idn.relayed()
        await users_topic_retention()

        async with fresh_classgroups(mongodb_url, tokens) as cg:

            async def learned() -> bool:
                account = await cg.handlers.store.directory.account(student)
                return account is not None and account.is_student_of(SCHOOL)

            await cg.until(learned, timeout=120)
            await cg.until(lambda: cg.handlers.store.directory.is_guardian(parent, student))
            # through the public API: the school's admin rosters the student the fresh service never saw an
            # event of, and the parent sees the child's class
            school_admin = cg.as_("u-admin", f"school_admin@{SCHOOL}")
            body = {"school": SCHOOL, "school_year": 2026, "grade": 5, "name": "快照班"}
            cid = (await cg.client.post("/v1/administrative-classes", json=body, headers=school_admin)).json()["id"]
            headers = {**school_admin, "Content-Type": "application/x-ndjson"}
            line = f'{{"account_id": "{student}"}}'.encode()
            r = await cg.client.post(f"/v1/classes/{cid}/roster", content=line, headers=headers)
            assert r.status_code == 200 and r.json()["added"] == 1, r.text
            r = await cg.client.get(f"/v1/students/{student}/classes", headers=cg.as_(parent))
            assert [c["id"] for c in r.json()] == [cid]

        # the backfill republishes every account, page by page, and says how far it got
        assert (
            await idn.client.post("/v1/admin/account-snapshots", headers=await idn.bearer(parent_phone))
        ).status_code == 403
        r = await idn.client.post("/v1/admin/account-snapshots", headers=admin)
        assert r.status_code == 202, r.text
        for _ in range(600):
            status = (await idn.client.get("/v1/admin/account-snapshots", headers=admin)).json()
            if not status["running"]:
                break
            await asyncio.sleep(0.1)
        accounts = await idn.service.store.db["accounts"].count_documents({})
        assert status["error"] is None and status["published"] == accounts >= 3, status
