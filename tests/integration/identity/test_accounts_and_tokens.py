"""Identity on the real FerretDB and Kafka: accounts, sessions, lockout, reset, roles, events."""

from __future__ import annotations

import uuid

import pytest

from identity.domain import crypto

pytestmark = pytest.mark.integration

SCHOOL = "cn/43/4301/430102/school-430102001"


async def test_register_login_refresh_reuse_and_logout(identity, events):
    user_id, phone = await identity.register("student")
    registered = await events.wait_for("cn.smartedu.identity.user.registered.v1", lambda e: e["user_id"] == user_id)
    assert registered["kind"] == "student" and phone not in str(registered)

    dup = await identity.client.post(
        "/v1/accounts",
        json={"phone": "+86 " + phone, "password": "Other-Horse-9", "real_name": "王芳", "kind": "parent"},
    )
    assert dup.status_code == 409 and dup.json()["code"] == "duplicate_phone"

    tokens = await identity.login(phone)
    me = await identity.client.get("/v1/accounts/me", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert me.status_code == 200 and me.json()["phone"] == phone[:3] + "****" + phone[-4:]

    rotated = await identity.client.post("/v1/sessions/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert rotated.status_code == 200
    new_refresh = rotated.json()["refresh_token"]
    reuse = await identity.client.post("/v1/sessions/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert reuse.status_code == 401 and reuse.json()["code"] == "refresh_reused"
    # the reuse revoked the whole family: the legitimately rotated token is dead too
    after = await identity.client.post("/v1/sessions/refresh", json={"refresh_token": new_refresh})
    assert after.status_code == 401 and after.json()["code"] == "refresh_revoked"

    second = await identity.login(phone)
    assert (
        await identity.client.post("/v1/sessions/logout", json={"refresh_token": second["refresh_token"]})
    ).status_code == 204
    assert (
        await identity.client.post("/v1/sessions/refresh", json={"refresh_token": second["refresh_token"]})
    ).status_code == 401

    # PII at rest is ciphertext
    raw = await identity.service.store.db["accounts"].find_one({"_id": user_id})
    assert phone not in str(raw) and "李明" not in str(raw)


async def test_validation_is_per_field(identity):
    r = await identity.client.post(
        "/v1/accounts", json={"phone": "123", "password": "password1", "real_name": "李明", "kind": "student"}
    )
    assert r.status_code == 422
    fields = {e["field"] for e in r.json()["errors"]}
    assert {"body.phone", "body.password"} <= fields
    r = await identity.client.post("/v1/accounts", json={"password": "x", "real_name": "", "kind": "alien"})
    assert r.status_code == 422 and {"body.kind", "body.real_name"} <= {e["field"] for e in r.json()["errors"]}


async def test_same_answer_for_unknown_account_and_wrong_password_then_lockout(identity):
    _, phone = await identity.register("teacher")
    unknown = await identity.client.post("/v1/sessions", json={"identifier": "13900000000", "password": "Nope-1234"})
    wrong = await identity.client.post("/v1/sessions", json={"identifier": phone, "password": "Nope-1234"})
    assert unknown.status_code == wrong.status_code == 401
    assert unknown.json() == wrong.json() | {"instance": unknown.json()["instance"]}
    await identity.client.post("/v1/sessions", json={"identifier": phone, "password": "Nope-1234"})
    await identity.client.post("/v1/sessions", json={"identifier": phone, "password": "Nope-1234"})
    locked = await identity.client.post("/v1/sessions", json={"identifier": phone, "password": "Correct-Horse-9"})
    assert locked.status_code == 429 and int(locked.headers["retry-after"]) > 0


async def test_password_reset_code_travels_sealed(identity, events):
    user_id, phone = await identity.register("parent")
    assert (await identity.client.post("/v1/password-resets", json={"identifier": phone})).status_code == 202
    assert (await identity.client.post("/v1/password-resets", json={"identifier": "13900000001"})).status_code == 202
    note = await events.wait_for("cn.smartedu.identity.notification.requested.v1", lambda e: e["user_id"] == user_id)
    assert phone not in str(note)
    opened = crypto.open_sealed(identity.service.s.notify_key, note["sealed"], reference=note["notification_id"])
    assert opened["to"] == phone
    bad = await identity.client.post(
        "/v1/password-resets/confirm",
        json={"identifier": phone, "code": f"{(int(opened['code']) + 1) % 10**6:06d}", "new_password": "New-Horse-77"},
    )
    assert bad.status_code == 400
    ok = await identity.client.post(
        "/v1/password-resets/confirm",
        json={"identifier": phone, "code": opened["code"], "new_password": "New-Horse-77"},
    )
    assert ok.status_code == 204
    await identity.login(phone, "New-Horse-77")
    again = await identity.client.post(
        "/v1/password-resets/confirm",
        json={"identifier": phone, "code": opened["code"], "new_password": "New-Horse-78"},
    )
    assert again.status_code == 400


async def test_scoped_admin_grants_and_sees_only_subtree(identity, events):
    admin_id, admin_phone = await identity.register("teacher")
    await identity.make(admin_id, "county_admin", "cn/43/4301/430102")
    student_id, student_phone = await identity.register("student")
    h = await identity.bearer(admin_phone)

    # the student belongs to no school yet: the grant is an invitation, which the student accepts
    ok = await identity.client.post(
        "/v1/role-grants", headers=h, json={"user_id": student_id, "role": "student", "org": SCHOOL}
    )
    assert ok.status_code == 200 and ok.json() == {"changed": False, "status": "invited"}
    accepted = await identity.client.post(
        "/v1/accounts/me/invitations/accept",
        headers=await identity.bearer(student_phone),
        json={"role": "student", "org": SCHOOL},
    )
    assert accepted.status_code == 200 and accepted.json() == {"changed": True, "status": "granted"}
    granted = await events.wait_for("cn.smartedu.identity.role.granted.v1", lambda e: e["user_id"] == student_id)
    assert granted["org"] == SCHOOL and granted["granted_by"] == admin_id
    audit = await identity.service.store.db["audit"].find({"target": student_id}).to_list(None)
    assert audit and audit[0]["actor"] == admin_id

    other = "cn/43/4301/430104/school-430104001"
    out = await identity.client.post(
        "/v1/role-grants", headers=h, json={"user_id": student_id, "role": "student", "org": other}
    )
    assert out.status_code == 403 and out.json()["code"] == "out_of_scope"
    assert (await identity.client.get(f"/v1/orgs/{other}", headers=h)).status_code == 403
    mine = await identity.client.get("/v1/orgs/cn/43/4301/430102", headers=h)
    assert SCHOOL in [c["path"] for c in mine.json()["children"]]
    assert [n["path"] for n in (await identity.client.get("/v1/orgs", headers=h)).json()] == ["cn/43/4301/430102"]
    student_h = await identity.bearer(student_phone)
    assert (await identity.client.get("/v1/orgs", headers=student_h)).status_code == 403

    seen = await identity.client.get(f"/v1/accounts/{student_id}", headers=h)
    assert seen.status_code == 200 and seen.json()["phone"].startswith(student_phone[:3])
    outsider_id, _ = await identity.register("student")
    assert (await identity.client.get(f"/v1/accounts/{outsider_id}", headers=h)).status_code == 403
    unverified_id, _ = await identity.register("teacher")
    head = await identity.client.post(
        "/v1/role-grants", headers=h, json={"user_id": unverified_id, "role": "head_teacher", "org": SCHOOL}
    )
    assert head.status_code == 409 and head.json()["code"] == "teacher_not_verified"

    # the new role is in the student's next token
    me = await identity.client.get("/v1/accounts/me", headers=await identity.bearer(student_phone))
    assert f"student@{SCHOOL}" in me.json()["roles"]


async def test_expired_and_tampered_tokens_answer_401_with_reason(identity):
    _, phone = await identity.register("student")
    token = (await identity.login(phone))["access_token"]
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    r = await identity.client.get("/v1/accounts/me", headers={"Authorization": f"Bearer {tampered}"})
    assert r.status_code == 401 and r.json()["reason"] == "tampered"
    r = await identity.client.get("/v1/accounts/me")
    assert r.status_code == 401 and r.json()["reason"] == "missing"


async def test_jwks_rotation_old_tokens_still_verify(identity):
    admin_id, admin_phone = await identity.register("teacher")
    await identity.make(admin_id, "ministry_admin")
    h = await identity.bearer(admin_phone)
    before = {k["kid"] for k in (await identity.client.get("/.well-known/jwks.json")).json()["keys"]}
    rotated = await identity.client.post("/v1/admin/signing-keys/rotate", headers=h)
    assert rotated.status_code == 200 and rotated.json()["active_kid"] in before  # published ahead
    after = {k["kid"] for k in (await identity.client.get("/.well-known/jwks.json")).json()["keys"]}
    assert before <= after and len(after) == 3
    assert (await identity.client.get("/v1/accounts/me", headers=h)).status_code == 200


async def test_per_ip_lockout_across_accounts(identity):
    """Credential stuffing from one address: many accounts, one failure each, then the IP is locked."""
    _, phone = await identity.register("student")
    ip = {"x-forwarded-for": "10.9.9.9"}
    for i in range(8):
        r = await identity.client.post(
            "/v1/sessions", headers=ip, json={"identifier": f"1390000{i:04d}", "password": "Guess-1234"}
        )
        assert r.status_code == 401
    blocked = await identity.client.post(
        "/v1/sessions", headers=ip, json={"identifier": phone, "password": "Correct-Horse-9"}
    )
    assert blocked.status_code == 429
    elsewhere = await identity.client.post(
        "/v1/sessions",
        headers={"x-forwarded-for": "10.9.9.10"},
        json={"identifier": phone, "password": "Correct-Horse-9"},
    )
    assert elsewhere.status_code == 200


async def test_a_crash_between_claim_and_account_does_not_lock_the_phone_forever(identity):
    """A registration that died after claiming its phone and before saving its account left a claim without an
    account: a fresh one is still respected (a registration may be in flight), a stale one is taken over."""
    from datetime import UTC, datetime, timedelta

    service = identity.service
    body = {"password": "Qing-Shan-2026!", "real_name": "赵磊", "kind": "teacher"}
    for age, expected in ((timedelta(seconds=5), 409), (timedelta(minutes=10), 201)):
        phone = f"137{uuid.uuid4().int % 10**8:08d}"
        key = service.accounts.login_key("phone", crypto.normalise_phone(phone))
        ghost = f"u_{uuid.uuid4().hex}"
        await service.store.db["logins"].insert_one({"_id": key, "user_id": ghost, "at": datetime.now(UTC) - age})
        r = await identity.client.post("/v1/accounts", json={**body, "phone": phone})
        assert r.status_code == expected, r.text
        if expected == 201:
            assert await service.store.accounts.login_owner(key) == r.json()["user_id"]
            assert (await identity.login(phone, password=body["password"]))["access_token"]
