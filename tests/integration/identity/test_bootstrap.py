"""The first ministry admin comes from a one-time operator step (``python -m identity.bootstrap``), never from
registering a configured phone, and a revocation is never undone by a restart (issue 13, hole 6).

This module gets its own identity database (the fixture is per module): no ministry admin exists before."""

from __future__ import annotations

import asyncio
import os
import sys

import pytest

from tests.conftest import ROOT, isolated_env

pytestmark = pytest.mark.integration

OLD_SETTING_PHONE = "13812345678"
PASSWORD = "Guo-Jia-Ping-Tai-2026"


@pytest.fixture(scope="module", autouse=True)
def old_bootstrap_setting():
    """What deployments set before: the phone whose registration made a ministry admin. Nothing reads it now."""
    os.environ["IDENTITY_BOOTSTRAP_ADMIN_PHONE"] = OLD_SETTING_PHONE
    yield
    del os.environ["IDENTITY_BOOTSTRAP_ADMIN_PHONE"]


async def bootstrap(identity, phone: str, password: str) -> tuple[int, str]:
    s = identity.service.s
    env = isolated_env(
        MONGODB_URL=s.mongodb_url,
        MONGODB_DATABASE_PREFIX=s.mongodb_database_prefix,
        KAFKA_BOOTSTRAP_SERVERS=s.kafka_bootstrap_servers,
        IDENTITY_ARGON2_TIME_COST="1",
        IDENTITY_ARGON2_MEMORY_KIB="8192",
    )
    env.pop("IDENTITY_BOOTSTRAP_PASSWORD", None)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "identity.bootstrap",
        "--phone",
        phone,
        "--real-name",
        "管理员",
        env=env,
        cwd=ROOT,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await proc.communicate(password.encode() + b"\n")
    return proc.returncode, out.decode()


async def roles_of(identity, phone: str, password: str = "Correct-Horse-9") -> list[str]:
    h = {"Authorization": f"Bearer {(await identity.login(phone, password))['access_token']}"}
    return (await identity.client.get("/v1/accounts/me", headers=h)).json()["roles"]


async def test_registering_the_configured_phone_makes_nobody_admin(identity):
    r = await identity.client.post(
        "/v1/accounts",
        json={"phone": OLD_SETTING_PHONE, "password": "Correct-Horse-9", "real_name": "冒名者", "kind": "teacher"},
    )
    assert r.status_code == 201
    assert await roles_of(identity, OLD_SETTING_PHONE) == []
    await identity.service.load()  # a restart
    assert await roles_of(identity, OLD_SETTING_PHONE) == []


async def test_the_operator_step_makes_one_first_admin_and_a_revocation_sticks(identity, events):
    # a registered phone is taken only with its own password
    owner_id, phone = await identity.register("teacher")
    status, out = await bootstrap(identity, phone, "Not-The-Password-1")
    assert status == 3 and "refused" in out
    assert await roles_of(identity, phone) == []
    status, out = await bootstrap(identity, phone, "Correct-Horse-9")
    assert status == 0, out
    assert await roles_of(identity, phone) == ["ministry_admin"]
    granted = await events.wait_for("cn.smartedu.identity.role.granted.v1", lambda e: e["user_id"] == owner_id)
    assert granted["granted_by"] == "bootstrap"

    # once a ministry admin exists, the step refuses, also for a new phone
    status, out = await bootstrap(identity, "13987654321", PASSWORD)
    assert status == 3 and "ministry admin exists" in out
    assert (
        await identity.service.store.accounts.login_owner(identity.service.accounts.login_key("phone", "13987654321"))
        is None
    )

    # a second admin, granted through the API, revokes the first: a restart does not give it back
    second_id, second_phone = await identity.register("teacher")
    first = {"Authorization": f"Bearer {(await identity.login(phone))['access_token']}"}
    grant = {"user_id": second_id, "role": "ministry_admin", "org": None}
    assert (await identity.client.post("/v1/role-grants", headers=first, json=grant)).json()["status"] == "granted"
    second = await identity.bearer(second_phone)
    revoke = {"user_id": owner_id, "role": "ministry_admin", "org": None}
    assert (await identity.client.post("/v1/role-revocations", headers=second, json=revoke)).json()["changed"]
    await identity.service.load()
    assert await roles_of(identity, phone) == []
    status, _ = await bootstrap(identity, phone, "Correct-Horse-9")
    assert status == 3
    assert await roles_of(identity, phone) == []
