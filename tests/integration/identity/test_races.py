"""Races on the real FerretDB (whose updates are read–modify–write without a transaction): many requests at once
through the real app, then the state, the audit and the topic are checked. Issue 13, holes 3, 8 and 11."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from identity.domain import crypto
from identity.domain.accounts import RESET_MAX_ATTEMPTS

from .conftest import Running, running_identity

pytestmark = pytest.mark.integration

SCHOOL = "cn/43/4301/430102/school-430102001"
PASSWORD = "Correct-Horse-9"
PARALLEL = 40
LIMITS = {
    "login_max_failures": 5,
    "login_ip_max_failures": 1000,  # these tests share one client address; the per-IP cap has its own test
    "reset_max_per_identifier": 4,
    "reset_max_per_ip": 12,
    "register_max_per_identifier": 3,
}
NOTIFIED = "cn.smartedu.identity.notification.requested.v1"
_codes_read: set[str] = set()  # notifications whose code a test took already


@pytest.fixture(scope="module")
async def identity(mongodb_url: str):
    async with running_identity(mongodb_url, **LIMITS) as running:
        yield running


def _is_problem(r, status: int, code: str) -> bool:
    return (
        r.status_code == status
        and r.headers["content-type"].startswith("application/problem+json")
        and r.json()["code"] == code
    )


async def _reset_code(identity: Running, events, user_id: str, phone: str) -> str:
    r = await identity.client.post("/v1/password-resets", json={"identifier": phone})
    assert r.status_code == 202, r.text
    return await _next_code(identity, events, user_id)


async def _next_code(identity: Running, events, user_id: str) -> str:
    """The code of the next notification to ``user_id`` not read before (opened as the SMS gateway would)."""
    note = await events.wait_for(
        NOTIFIED, lambda e: e["user_id"] == user_id and e["notification_id"] not in _codes_read
    )
    _codes_read.add(note["notification_id"])
    return crypto.open_sealed(identity.service.s.notify_key, note["sealed"], reference=note["notification_id"])["code"]


async def _attempts(identity: Running) -> int:
    return await identity.service.store.db["resets"].count_documents({"c": {"$regex": "^reset-attempt:"}})


def _wrong(code: str, i: int) -> str:
    return f"{(int(code) + 1 + i) % 10**6:06d}"


# --- hole 8: the login throttle --------------------------------------------------------------------------------
async def test_parallel_wrong_passwords_lock_the_account_after_exactly_the_cap(identity):
    _, phone = await identity.register("student")
    guesses = await asyncio.gather(
        *[
            identity.client.post("/v1/sessions", json={"identifier": phone, "password": f"Guess-{i}-Horse"})
            for i in range(PARALLEL)
        ]
    )
    statuses = [r.status_code for r in guesses]
    assert set(statuses) <= {401, 429}, statuses  # never a 500
    assert statuses.count(401) == LIMITS["login_max_failures"]  # only that many passwords were even checked
    assert all(int(r.headers["retry-after"]) > 0 for r in guesses if r.status_code == 429)
    locked = await identity.client.post("/v1/sessions", json={"identifier": phone, "password": PASSWORD})
    assert _is_problem(locked, 429, "locked") and int(locked.headers["retry-after"]) > 0


async def test_parallel_logins_from_one_address_stop_at_the_ip_cap(mongodb_url):
    async with running_identity(mongodb_url, login_max_failures=1000, login_ip_max_failures=7) as identity:
        _, phone = await identity.register("student")
        async with identity.from_ip("10.40.0.1") as attacker:
            guesses = await asyncio.gather(
                *[
                    attacker.post("/v1/sessions", json={"identifier": f"1390001{i:04d}", "password": "Guess-1234"})
                    for i in range(PARALLEL)
                ]
            )
            statuses = [r.status_code for r in guesses]
            assert set(statuses) <= {401, 429} and statuses.count(401) == 7, statuses
            assert (
                await attacker.post("/v1/sessions", json={"identifier": phone, "password": PASSWORD})
            ).status_code == 429
        await identity.login(phone)  # the account itself is not locked, only the address


async def test_a_successful_login_forgets_earlier_failures(identity):
    _, phone = await identity.register("student")
    for _ in range(LIMITS["login_max_failures"] - 1):
        r = await identity.client.post("/v1/sessions", json={"identifier": phone, "password": "Guess-1-Horse"})
        assert r.status_code == 401
    await identity.login(phone)
    for _ in range(LIMITS["login_max_failures"] - 1):
        r = await identity.client.post("/v1/sessions", json={"identifier": phone, "password": "Guess-1-Horse"})
        assert r.status_code == 401
    await identity.login(phone)


# --- hole 3: reset codes --------------------------------------------------------------------------------------
async def test_parallel_reset_guesses_stop_at_the_cap_and_kill_the_code(identity, events):
    user_id, phone = await identity.register("parent")
    code = await _reset_code(identity, events, user_id, phone)
    before = await _attempts(identity)
    guesses = await asyncio.gather(
        *[
            identity.client.post(
                "/v1/password-resets/confirm",
                json={"identifier": phone, "code": _wrong(code, i), "new_password": "New-Horse-77"},
            )
            for i in range(PARALLEL)
        ]
    )
    assert all(_is_problem(r, 400, "reset_code_invalid") for r in guesses), [r.status_code for r in guesses]
    assert await _attempts(identity) - before <= RESET_MAX_ATTEMPTS  # at most the cap of guesses were evaluated
    right = await identity.client.post(
        "/v1/password-resets/confirm", json={"identifier": phone, "code": code, "new_password": "New-Horse-77"}
    )
    assert _is_problem(right, 400, "reset_code_invalid")  # the code died with its last guess
    await identity.login(phone)  # the password is unchanged


async def test_parallel_confirms_of_the_right_code_reset_once(identity, events):
    user_id, phone = await identity.register("parent")
    code = await _reset_code(identity, events, user_id, phone)
    confirms = await asyncio.gather(
        *[
            identity.client.post(
                "/v1/password-resets/confirm",
                json={"identifier": phone, "code": code, "new_password": f"New-Horse-{i:02d}"},
            )
            for i in range(RESET_MAX_ATTEMPTS)
        ]
    )
    statuses = [r.status_code for r in confirms]
    assert statuses.count(204) == 1 and statuses.count(400) == RESET_MAX_ATTEMPTS - 1, statuses
    winner = statuses.index(204)
    await identity.login(phone, f"New-Horse-{winner:02d}")


async def test_reset_requests_are_limited_per_identifier_whether_or_not_it_has_an_account(identity, events):
    user_id, phone = await identity.register("parent")
    unknown = f"139{uuid.uuid4().int % 10**8:08d}"
    for i, identifier in enumerate((phone, unknown)):
        async with identity.from_ip(f"10.30.1.{i}") as client:
            answers = await asyncio.gather(
                *[client.post("/v1/password-resets", json={"identifier": identifier}) for _ in range(10)]
            )
            statuses = [r.status_code for r in answers]
            assert statuses.count(202) == LIMITS["reset_max_per_identifier"], statuses
            limited = [r for r in answers if r.status_code == 429]
            assert all(_is_problem(r, 429, "rate_limited") for r in limited)
            assert all(0 < int(r.headers["retry-after"]) <= 86400 for r in limited)
    # exactly that many codes went out (no SMS flood): count the notifications on the topic
    await identity.relayed()
    sent = [e for t, e in await events.drain() if t == NOTIFIED and e["user_id"] == user_id]
    assert len(sent) == LIMITS["reset_max_per_identifier"]


async def test_a_new_code_does_not_reset_the_guess_budget(identity, events):
    """Guess, ask for a new code, guess again: the guesses are bounded by codes per window × attempts per code."""
    user_id, phone = await identity.register("parent")
    before = await _attempts(identity)
    async with identity.from_ip("10.30.0.2") as client:
        evaluated = 0
        while True:
            r = await client.post("/v1/password-resets", json={"identifier": phone})
            if r.status_code == 429:
                break
            code = await _next_code(identity, events, user_id)
            for i in range(RESET_MAX_ATTEMPTS + 2):
                guess = await client.post(
                    "/v1/password-resets/confirm",
                    json={"identifier": phone, "code": _wrong(code, i), "new_password": "New-Horse-77"},
                )
                assert guess.status_code == 400
                evaluated += 1
            assert evaluated < 1000, "the reset requests were never limited"
    assert await _attempts(identity) - before <= LIMITS["reset_max_per_identifier"] * RESET_MAX_ATTEMPTS


async def test_reset_requests_are_limited_per_ip(identity):
    async with identity.from_ip("10.30.0.3") as client:
        answers = await asyncio.gather(
            *[
                client.post("/v1/password-resets", json={"identifier": f"139{uuid.uuid4().int % 10**8:08d}"})
                for _ in range(PARALLEL)
            ]
        )
        statuses = [r.status_code for r in answers]
        assert statuses.count(202) == LIMITS["reset_max_per_ip"], statuses
        assert all(_is_problem(r, 429, "rate_limited") for r in answers if r.status_code != 202)
    async with identity.from_ip("10.30.0.4") as elsewhere:  # another school is not affected
        r = await elsewhere.post("/v1/password-resets", json={"identifier": f"139{uuid.uuid4().int % 10**8:08d}"})
        assert r.status_code == 202


REGISTRATION = {"password": "Qing-Shan-2026!", "real_name": "赵磊", "kind": "student"}


async def test_registrations_are_limited_per_ip(mongodb_url):
    async with running_identity(mongodb_url, register_max_per_ip=6) as identity:
        async with identity.from_ip("10.20.0.1") as client:
            answers = await asyncio.gather(
                *[
                    client.post("/v1/accounts", json={**REGISTRATION, "phone": f"137{uuid.uuid4().int % 10**8:08d}"})
                    for _ in range(PARALLEL // 2)
                ]
            )
            statuses = [r.status_code for r in answers]
            assert statuses.count(201) == 6, statuses
            limited = [r for r in answers if r.status_code != 201]
            assert all(_is_problem(r, 429, "rate_limited") and int(r.headers["retry-after"]) > 0 for r in limited)
        await identity.register("student")  # from another address


async def test_registrations_are_limited_per_identifier(identity):
    body = REGISTRATION
    phone = f"137{uuid.uuid4().int % 10**8:08d}"
    statuses = []
    for i in range(LIMITS["register_max_per_identifier"] + 2):  # probing one phone: 201, 409s, then 429
        async with identity.from_ip(f"10.20.1.{i}") as client:
            statuses.append((await client.post("/v1/accounts", json={**body, "phone": phone})).status_code)
    assert statuses == [201] + [409] * (LIMITS["register_max_per_identifier"] - 1) + [429, 429]


# --- hole 3: sessions end with a password change or reset ----------------------------------------------------------
async def test_password_change_and_reset_revoke_every_session(identity, events):
    user_id, phone = await identity.register("teacher")
    first, second = await identity.login(phone), await identity.login(phone)
    h = {"Authorization": f"Bearer {first['access_token']}"}
    changed = await identity.client.post(
        "/v1/accounts/me/password", headers=h, json={"current_password": PASSWORD, "new_password": "Other-Horse-42"}
    )
    assert changed.status_code == 204
    for stolen in (first, second):
        r = await identity.client.post("/v1/sessions/refresh", json={"refresh_token": stolen["refresh_token"]})
        assert _is_problem(r, 401, "refresh_revoked")
    fresh = await identity.login(phone, "Other-Horse-42")
    assert (
        await identity.client.post("/v1/sessions/refresh", json={"refresh_token": fresh["refresh_token"]})
    ).status_code == 200

    code = await _reset_code(identity, events, user_id, phone)
    third = await identity.login(phone, "Other-Horse-42")
    reset = await identity.client.post(
        "/v1/password-resets/confirm", json={"identifier": phone, "code": code, "new_password": "Third-Horse-43"}
    )
    assert reset.status_code == 204
    r = await identity.client.post("/v1/sessions/refresh", json={"refresh_token": third["refresh_token"]})
    assert _is_problem(r, 401, "refresh_revoked")
    await identity.login(phone, "Third-Horse-43")


async def test_parallel_use_of_one_refresh_token_rotates_once_and_never_500(identity):
    _, phone = await identity.register("student")
    stolen = (await identity.login(phone))["refresh_token"]
    answers = await asyncio.gather(
        *[identity.client.post("/v1/sessions/refresh", json={"refresh_token": stolen}) for _ in range(20)]
    )
    statuses = [r.status_code for r in answers]
    assert statuses.count(200) == 1 and statuses.count(401) == 19, statuses
    # the reuse revoked the family, the rotated token included
    rotated = answers[statuses.index(200)].json()["refresh_token"]
    r = await identity.client.post("/v1/sessions/refresh", json={"refresh_token": rotated})
    assert _is_problem(r, 401, "refresh_revoked")


# --- hole 8: lost updates of accounts ----------------------------------------------------------------------------
async def test_grants_revocations_and_a_password_change_racing_all_survive(identity):
    admin_id, admin_phone = await identity.register("teacher")
    await identity.make(admin_id, "ministry_admin")
    admin = await identity.bearer(admin_phone)
    target_id, target_phone = await identity.register("teacher")
    provinces = sorted(p for p in identity.service.tree.nodes if p.count("/") == 1)[:20]
    revoked, granted = provinces[:5], provinces[5:]
    for p in revoked:
        await identity.make(target_id, "province_admin", p)
    target = await identity.bearer(target_phone)

    def change(path: str, org: str):
        return identity.client.post(
            path, headers=admin, json={"user_id": target_id, "role": "province_admin", "org": org}
        )

    answers = await asyncio.gather(
        *[change("/v1/role-revocations", p) for p in revoked],
        *[change("/v1/role-grants", p) for p in granted],
        identity.client.post(
            "/v1/accounts/me/password",
            headers=target,
            json={"current_password": PASSWORD, "new_password": "Racing-Horse-55"},
        ),
    )
    assert [r.status_code for r in answers] == [200] * len(provinces) + [204]
    assert all(r.json()["changed"] is True for r in answers[:-1])
    account = await identity.service.store.accounts.account(target_id)
    assert sorted(r.org for r in account.roles) == granted  # every grant and every revocation took effect
    audit = await identity.service.store.db["audit"].find({"target": target_id}).to_list(None)
    assert sorted((a["action"], a["org"]) for a in audit) == sorted(
        [("revoke", p) for p in revoked] + [("grant", p) for p in granted]
    )
    await identity.login(target_phone, "Racing-Horse-55")  # the password change survived the grants


async def test_a_grant_racing_its_revocation_is_audited_as_it_took_effect(identity):
    admin_id, admin_phone = await identity.register("teacher")
    await identity.make(admin_id, "ministry_admin")
    admin = await identity.bearer(admin_phone)
    target_id, _ = await identity.register("teacher")
    org = "cn/44"
    body = {"user_id": target_id, "role": "province_admin", "org": org}
    answers = await asyncio.gather(
        *[
            identity.client.post(path, headers=admin, json=body)
            for path in ["/v1/role-grants", "/v1/role-revocations"] * 10
        ]
    )
    assert all(r.status_code == 200 for r in answers)
    changed = [(action, r.json()["changed"]) for action, r in zip(["grant", "revoke"] * 10, answers, strict=True)]
    grants = sum(c for a, c in changed if a == "grant")
    revocations = sum(c for a, c in changed if a == "revoke")
    # effective changes alternate (a grant changes only an account without the role, a revocation only one with
    # it), starting from none: one more grant than revocations leaves the role, as many leave none
    assert grants - revocations in (0, 1)
    account = await identity.service.store.accounts.account(target_id)
    assert any(r.org == org for r in account.roles) == (grants - revocations == 1)
    audit = await identity.service.store.db["audit"].find({"target": target_id}).to_list(None)
    assert sorted(a["action"] for a in audit) == ["grant"] * grants + ["revoke"] * revocations


async def test_parallel_deactivations_publish_once(identity, events):
    admin_id, admin_phone = await identity.register("teacher")
    await identity.make(admin_id, "ministry_admin")
    admin = await identity.bearer(admin_phone)
    target_id, _ = await identity.register("parent")
    answers = await asyncio.gather(
        *[identity.client.post(f"/v1/accounts/{target_id}/deactivate", headers=admin) for _ in range(10)]
    )
    assert all(r.status_code == 204 for r in answers)
    await identity.relayed()
    published = [
        e
        for t, e in await events.drain()
        if t == "cn.smartedu.identity.user.deactivated.v1" and e["user_id"] == target_id
    ]
    assert len(published) == 1


async def test_parallel_link_approvals_publish_once(identity, events):
    child_id, _ = await identity.register("student", birth_date="2016-03-01")
    parent_id, parent_phone = await identity.register("parent")
    head_id, head_phone = await identity.register("teacher")
    admin_id, admin_phone = await identity.register("teacher")
    await identity.make(child_id, "student", SCHOOL)
    await identity.service.store.accounts.update(child_id, fields={"school": SCHOOL})
    await identity.make(head_id, "head_teacher", SCHOOL)
    await identity.make(admin_id, "school_admin", SCHOOL)
    r = await identity.client.post(
        "/v1/guardian-links", headers=await identity.bearer(parent_phone), json={"child_id": child_id}
    )
    assert r.status_code == 201
    approvers = [await identity.bearer(head_phone), await identity.bearer(admin_phone)]
    path = f"/v1/guardian-links/{child_id}/{parent_id}/approve"
    answers = await asyncio.gather(*[identity.client.post(path, headers=approvers[i % 2]) for i in range(20)])
    statuses = [r.status_code for r in answers]
    assert statuses.count(200) == 1 and statuses.count(409) == 19, statuses
    await identity.relayed()
    linked = [
        e
        for t, e in await events.drain()
        if t == "cn.smartedu.identity.guardian.linked.v1" and e["user_id"] == child_id
    ]
    assert len(linked) == 1
    winner = answers[statuses.index(200)].json()
    assert linked[0]["approver_role"] == winner["approver_role"]
    stored = await identity.service.store.links.link(parent_id, child_id)
    assert stored.status == "approved" and stored.approver_role == winner["approver_role"]


async def test_store_updates_of_one_account_are_not_lost_on_ferretdb(identity):
    """The store's own guarantee, below the API: 40 concurrent role additions all land, and of 40 concurrent
    conditional transitions exactly one reports the change (FerretDB alone lets several "win", see README)."""
    from common.auth import Role

    store = identity.service.store.accounts
    user_id, _ = await identity.register("teacher")
    adds = await asyncio.gather(
        *[store.update(user_id, add_role=Role(name="catalog_editor", org=f"provider/p{i}")) for i in range(PARALLEL)]
    )
    assert all(adds)
    assert len((await store.account(user_id)).roles) == PARALLEL
    transitions = await asyncio.gather(
        *[
            store.update(user_id, fields={"teacher_status": "pending"}, where={"teacher_status": "unverified"})
            for i in range(PARALLEL)
        ]
    )
    assert sum(transitions) == 1


async def test_expired_slots_and_locks_are_purged_and_live_ones_kept(identity):
    from datetime import UTC, datetime, timedelta

    store = identity.service.store.counters
    past, future = datetime.now(UTC) - timedelta(seconds=1), datetime.now(UTC) + timedelta(hours=1)
    counter = f"rl:test:{uuid.uuid4().hex}:0"
    subject = f"ip:{uuid.uuid4().hex}"
    assert await store.claim_slot("throttle", counter, 5, expires_at=past, subject=subject) == 1
    assert await store.claim_slot("throttle", counter, 5, expires_at=future, subject=subject) == 2
    await store.lock(subject, 0, 0.0, keep_until=past)
    assert await store.throttle_of(subject) == ((0, 0.0), {counter: 2})
    await store.purge_expired()
    assert await store.throttle_of(subject) == (None, {counter: 1})
