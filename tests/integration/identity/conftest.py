from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from asgi_lifespan import LifespanManager
from pymongo import AsyncMongoClient

from common.messaging import kafka_client_options
from common.topics import topic
from deploy.local.teacher_registry.app import fake_registry_app
from identity.app import create_app
from identity.registry import TeacherRegistry
from identity.settings import IdentitySettings

ISSUER = "http://id.test"


class Running:
    def __init__(self, app, client: httpx.AsyncClient, asgi=None) -> None:
        self.app, self.client, self.asgi = app, client, asgi or app

    def from_ip(self, ip: str) -> httpx.AsyncClient:
        """A client whose requests come from ``ip`` (the socket peer, not a header); close it after use."""
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=self.asgi, client=(ip, 40000)), base_url=ISSUER)

    @property
    def service(self):
        return self.app.state.identity

    async def register(self, kind: str = "student", **extra: object) -> tuple[str, str]:
        phone = f"13{uuid.uuid4().int % 10**9:09d}"
        body = {"phone": phone, "password": "Correct-Horse-9", "real_name": "李明", "kind": kind, **extra}
        r = await self.client.post("/v1/accounts", json=body)
        assert r.status_code == 201, r.text
        return r.json()["user_id"], phone

    async def login(self, phone: str, password: str = "Correct-Horse-9") -> dict:
        r = await self.client.post("/v1/sessions", json={"identifier": phone, "password": password})
        assert r.status_code == 200, r.text
        return r.json()

    async def bearer(self, phone: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {(await self.login(phone))['access_token']}"}

    async def relayed(self, timeout: float = 30) -> None:  # noqa: ASYNC109
        """Wait until the outbox relay published what the requests so far stored (a request is answered once its
        events are stored, before they are on Kafka): then ``Events.drain`` sees them all."""
        relay = self.app.state.kit.outbox.relay
        deadline = asyncio.get_running_loop().time() + timeout
        while relay.queue:
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"the outbox relay still holds {len(relay.queue)} change(s)")
            await asyncio.sleep(0.05)

    async def make(self, user_id: str, role: str, org: str | None = None) -> None:
        """Grant a role directly (as a bootstrap would) — tests of the grant API use the API."""
        from common.auth import Role

        await self.service.store.accounts.update(user_id, add_role=Role(name=role, org=org))


class Events:
    """Reads identity's topics from the offsets at fixture start."""

    def __init__(self, consumer: AIOKafkaConsumer) -> None:
        self.consumer = consumer
        self.seen: list[tuple[str, dict]] = []

    async def wait_for(self, ce_type: str, match=lambda e: True, timeout: float = 20) -> dict:  # noqa: ASYNC109
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            for t, e in self.seen:
                if t == ce_type and match(e):
                    return e
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"no {ce_type} event")
            await self._fetch()

    def raw(self) -> list[dict]:
        return [e for _, e in self.seen]

    async def drain(self) -> list[tuple[str, dict]]:
        """Read every partition up to its end offset now: all that was published so far (publishing waits for
        the broker's acknowledgement), so a test can count events, not just wait for one."""
        parts = self.consumer.assignment()
        ends = await self.consumer.end_offsets(list(parts))
        while any([await self.consumer.position(tp) < ends[tp] for tp in parts]):
            await self._fetch()
        return self.seen

    async def _fetch(self) -> None:
        batch = await self.consumer.getmany(timeout_ms=500)
        for records in batch.values():
            for r in records:
                headers = {k: v.decode() for k, v in r.headers}
                self.seen.append((headers.get("ce_type", ""), orjson.loads(r.value)))


@contextlib.asynccontextmanager
async def running_identity(
    mongodb_url: str, *, run: str | None = None, keep_database: bool = False, **settings_overrides: Any
) -> AsyncIterator[Running]:
    """Identity in-process on its own fresh database, with test settings (``settings_overrides`` win). A second
    process of the same ``run`` works on the database of the first, which ``keep_database`` kept."""
    run = run or uuid.uuid4().hex[:8]
    settings = IdentitySettings(
        **{
            "mongodb_database_prefix": f"test_identity_{run}_",
            "kafka_client_prefix": f"test-{run}-",
            "issuer": ISSUER,
            "seed_demo": True,  # the tests use the demo schools
            "argon2_time_cost": 1,
            "argon2_memory_kib": 8192,
            "login_max_failures": 3,
            "login_ip_max_failures": 8,
            "login_lock_seconds": 60,
            "trusted_proxy_hops": 1,  # the tests play one ingress: the X-Forwarded-For they send is the client
            **settings_overrides,
        }
    )
    registry = TeacherRegistry("http://registry.test", transport=httpx.ASGITransport(app=fake_registry_app()))
    app = create_app(settings, registry=registry)
    async with (
        LifespanManager(app, startup_timeout=60, shutdown_timeout=30) as manager,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=manager.app), base_url=ISSUER) as client,
    ):
        yield Running(app, client, manager.app)
    if keep_database:
        return
    mongo = AsyncMongoClient(mongodb_url, timeoutMS=30_000)
    await mongo.drop_database(f"test_identity_{run}_identity")
    await mongo.close()


@pytest.fixture(scope="module")
async def identity(mongodb_url: str) -> AsyncIterator[Running]:
    async with running_identity(mongodb_url) as running:
        yield running


@pytest.fixture(scope="module")
async def events(kafka_bootstrap: str) -> AsyncIterator[Events]:
    consumer = AIOKafkaConsumer(**kafka_client_options(), enable_auto_commit=False)
    await consumer.start()
    parts = [
        TopicPartition(t, p)
        for t in ("identity.users.v1", "identity.notifications.v1")
        for p in range(topic(t).partitions)
    ]
    consumer.assign(parts)
    await consumer.seek_to_end(*parts)
    for tp in parts:
        await consumer.position(tp)
    yield Events(consumer)
    await consumer.stop()


__all__ = ["ISSUER", "Events", "Running", "running_identity"]
