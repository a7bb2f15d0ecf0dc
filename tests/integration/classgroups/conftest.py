"""Class groups in-process on real Kafka and FerretDB. Accounts come the way they come in production: as identity's
events on ``identity.users.v1`` (published here with identity's contracts), which the service's consumer turns
into its directory."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from asgi_lifespan import LifespanManager
from pymongo import AsyncMongoClient, monitoring

from classgroups.app import create_app
from classgroups.settings import ClassGroupsSettings
from common.auth import install_verifier
from common.contracts.classgroups import CLASSES_TOPIC
from common.contracts.identity import GuardianLinked, RoleGranted, RoleRevoked, TeacherVerified, UserRegistered
from common.messaging import kafka_client_options
from common.topics import topic
from tests.integration.common.tokens import AUD, ISS, Tokens  # noqa: F401 (the tests import them from here)
from tests.integration.identity.conftest import Events

SCHOOL = "cn/43/4301/430102/school-430102001"
OTHER_SCHOOL = "cn/44/4401/440106/school-440106001"


class Running:
    """The service, a client, and identity's side: accounts made by publishing identity's events."""

    def __init__(self, app: Any, client: httpx.AsyncClient, tokens: Tokens) -> None:
        self.app, self.client, self.tokens = app, client, tokens

    @property
    def handlers(self) -> Any:
        return self.app.state.classgroups

    async def publish(self, *events: Any) -> None:
        await self.app.state.kit.publisher.publish_many(list(events))

    async def account(self, kind: str, *roles: str, verified_school: str | None = None) -> str:
        """An account identity registered (with roles, and a verification), once the directory has it."""
        uid = f"u-{uuid.uuid4().hex[:12]}"
        t = datetime.now(UTC)
        events: list[Any] = [UserRegistered(user_id=uid, occurred_at=t, kind=kind, login_methods=("phone",))]
        for claim in roles:
            role, _, org = claim.partition("@")
            events.append(RoleGranted(user_id=uid, occurred_at=t, role=role, org=org or None, granted_by="admin"))
        if verified_school:
            events.append(TeacherVerified(user_id=uid, occurred_at=t, outcome="verified", school=verified_school))
        await self.publish(*events)
        await self.until(lambda: self._has(uid, len(events)))
        return uid

    async def _has(self, uid: str, n: int) -> bool:
        account = await self.handlers.store.directory.account(uid)
        return account is not None and len(account.seen) >= n

    async def revoke(self, uid: str, claim: str) -> None:
        role, _, org = claim.partition("@")
        before = len((await self.handlers.store.directory.account(uid)).seen)
        t = datetime.now(UTC)
        await self.publish(RoleRevoked(user_id=uid, occurred_at=t, role=role, org=org or None, revoked_by="admin"))
        await self.until(lambda: self._has(uid, before + 1))

    async def link(self, child: str, guardian: str) -> None:
        t = datetime.now(UTC)
        event = GuardianLinked(
            user_id=child, occurred_at=t, guardian_id=guardian, approved_by="x", approver_role="school_admin"
        )
        await self.publish(event)
        await self.until(lambda: self.handlers.store.directory.is_guardian(guardian, child))

    def as_(self, uid: str, *roles: str, kind: str | None = None) -> dict[str, str]:
        return self.tokens.headers(uid, *roles, kind=kind)

    async def until(self, check: Any, timeout: float = 120) -> None:  # noqa: ASYNC109 - a polling deadline
        deadline = asyncio.get_running_loop().time() + timeout
        while not await check():
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError("condition not met in time")
            await asyncio.sleep(0.1)

    async def relayed(self) -> None:
        relay = self.app.state.kit.outbox.relay
        await self.until(lambda: _true(not relay.queue))


class Finds(monitoring.CommandListener):
    """The ``find`` commands a client sent, by collection."""

    def __init__(self) -> None:
        self.seen: Counter[str] = Counter()

    def started(self, event: monitoring.CommandStartedEvent) -> None:  # type: ignore[override]
        if event.command_name == "find":
            self.seen[event.command["find"]] += 1

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:  # type: ignore[override]
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:  # type: ignore[override]
        pass


async def presigned_upload(
    cg: Running, url: str, body: dict[str, Any], headers: dict[str, str], data: bytes
) -> tuple[str, httpx.Response]:
    """Ask the service at ``url`` for a presigned POST, then send ``data`` with a real HTTP client straight to the
    object store; returns the key and the store's answer."""
    r = await cg.client.post(url, json=body, headers=headers)
    assert r.status_code == 201, r.text
    form = dict(r.json()["fields"])
    async with httpx.AsyncClient(timeout=30) as s3:
        done = await s3.post(r.json()["url"], data=form, files={"file": ("x", data, form["Content-Type"])})
    return r.json()["key"], done


async def _true(value: bool) -> bool:
    return value


@pytest.fixture(scope="session")
def tokens() -> Tokens:
    return Tokens()


@pytest.fixture(scope="module")
async def classgroups(mongodb_url: str, tokens: Tokens) -> AsyncIterator[Running]:
    run = uuid.uuid4().hex[:8]
    settings = ClassGroupsSettings(
        mongodb_database_prefix=f"test_classgroups_{run}_",
        kafka_client_prefix=f"test-{run}-",
        code_max_failures=5,
    )
    app = create_app(settings)
    install_verifier(app, tokens.verifier())
    async with (
        LifespanManager(app, startup_timeout=120, shutdown_timeout=60) as manager,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=manager.app), base_url="http://classgroups") as client,
    ):
        yield Running(app, client, tokens)
    mongo = AsyncMongoClient(mongodb_url, timeoutMS=30_000)
    await mongo.drop_database(f"test_classgroups_{run}_classgroups")
    await mongo.close()


@contextlib.asynccontextmanager
async def topic_events(name: str) -> AsyncIterator[Events]:
    """What the service publishes on topic ``name`` from now on."""
    consumer = AIOKafkaConsumer(**kafka_client_options(), enable_auto_commit=False)
    await consumer.start()
    parts = [TopicPartition(name, p) for p in range(topic(name).partitions)]
    consumer.assign(parts)
    await consumer.seek_to_end(*parts)
    for tp in parts:
        await consumer.position(tp)
    try:
        yield Events(consumer)
    finally:
        await consumer.stop()


@pytest.fixture(scope="module")
async def events() -> AsyncIterator[Events]:
    async with topic_events(CLASSES_TOPIC) as seen:
        yield seen
