"""Scoped admins act only on accounts wholly inside their subtree and below their rank (issue 13, hole 2),
through the API on the real store: no capture by a grant, no deactivation or view of a higher account."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.integration

COUNTY = "cn/43/4301/430102"
SCHOOL = f"{COUNTY}/school-430102001"
OTHER_SCHOOL = "cn/43/4301/430104/school-430104001"


async def _admin(identity, role: str, org: str | None) -> tuple[str, dict[str, str]]:
    user_id, phone = await identity.register("teacher")
    await identity.make(user_id, role, org)
    return user_id, await identity.bearer(phone)


async def test_a_school_admin_cannot_capture_view_or_deactivate_a_ministry_admin(identity):
    _, school_admin = await _admin(identity, "school_admin", SCHOOL)
    minister_id, minister_phone = await identity.register("teacher")
    await identity.make(minister_id, "ministry_admin")

    capture = await identity.client.post(
        "/v1/role-grants", headers=school_admin, json={"user_id": minister_id, "role": "student", "org": SCHOOL}
    )
    assert capture.status_code == 403, capture.text
    assert (await identity.client.get(f"/v1/accounts/{minister_id}", headers=school_admin)).status_code == 403

    # even when the ministry admin does hold a place in the school (its first scope), the other one counts
    await identity.make(minister_id, "student", SCHOOL)
    account = await identity.service.store.accounts.account(minister_id)
    # student@school first: what the old check looked at
    await identity.service.store.accounts.update(
        minister_id, fields={"roles": [r.claim() for r in account.roles[::-1]]}
    )
    seen = await identity.client.get(f"/v1/accounts/{minister_id}", headers=school_admin)
    assert seen.status_code == 403 and "real_name" not in seen.text
    gone = await identity.client.post(f"/v1/accounts/{minister_id}/deactivate", headers=school_admin)
    assert gone.status_code == 403
    assert (await identity.login(minister_phone))["access_token"]  # still active


async def test_an_account_that_belongs_nowhere_joins_only_by_accepting(identity, events):
    admin_id, school_admin = await _admin(identity, "school_admin", SCHOOL)
    pupil_id, pupil_phone = await identity.register("student")
    pupil = await identity.bearer(pupil_phone)

    offered = await identity.client.post(
        "/v1/role-grants", headers=school_admin, json={"user_id": pupil_id, "role": "student", "org": SCHOOL}
    )
    assert offered.json() == {"changed": False, "status": "invited"}
    # until it accepts, the admin has no power over it
    assert (await identity.client.get(f"/v1/accounts/{pupil_id}", headers=school_admin)).status_code == 403
    assert (await identity.client.post(f"/v1/accounts/{pupil_id}/deactivate", headers=school_admin)).status_code == 403
    pending = await identity.client.get("/v1/accounts/me/invitations", headers=pupil)
    assert [i["role"] for i in pending.json()] == [f"student@{SCHOOL}"]
    # only the invited account can accept, and only what it was offered
    other_id, other_phone = await identity.register("student")
    stolen = await identity.client.post(
        "/v1/accounts/me/invitations/accept",
        headers=await identity.bearer(other_phone),
        json={"role": "student", "org": SCHOOL},
    )
    assert stolen.status_code == 404
    more = await identity.client.post(
        "/v1/accounts/me/invitations/accept", headers=pupil, json={"role": "school_admin", "org": SCHOOL}
    )
    assert more.status_code == 404

    accepted = await identity.client.post(
        "/v1/accounts/me/invitations/accept", headers=pupil, json={"role": "student", "org": SCHOOL}
    )
    assert accepted.json() == {"changed": True, "status": "granted"}
    event = await events.wait_for("cn.smartedu.identity.role.granted.v1", lambda e: e["user_id"] == pupil_id)
    assert event["granted_by"] == admin_id and event["org"] == SCHOOL
    assert (await identity.client.get(f"/v1/accounts/{pupil_id}", headers=school_admin)).status_code == 200
    again = await identity.client.post(
        "/v1/accounts/me/invitations/accept", headers=pupil, json={"role": "student", "org": SCHOOL}
    )
    assert again.status_code == 404  # accepted once

    # a declined invitation grants nothing
    await identity.client.post(
        "/v1/role-grants", headers=school_admin, json={"user_id": other_id, "role": "student", "org": SCHOOL}
    )
    declined = await identity.client.post(
        "/v1/accounts/me/invitations/decline",
        headers=await identity.bearer(other_phone),
        json={"role": "student", "org": SCHOOL},
    )
    assert declined.status_code == 204
    assert (await identity.service.store.accounts.account(other_id)).roles == []


async def test_an_account_of_another_subtree_cannot_be_pulled_in(identity):
    _, school_admin = await _admin(identity, "school_admin", SCHOOL)
    _, other_admin = await _admin(identity, "county_admin", "cn/43/4301/430104")
    pupil_id, _pupil_phone = await identity.register("student")
    await identity.make(pupil_id, "student", OTHER_SCHOOL)
    pulled = await identity.client.post(
        "/v1/role-grants", headers=school_admin, json={"user_id": pupil_id, "role": "student", "org": SCHOOL}
    )
    assert pulled.status_code == 403 and pulled.json()["code"] == "out_of_scope"
    assert (await identity.service.store.accounts.invitations(pupil_id)) == []
    # its own county's admin still manages it
    assert (await identity.client.get(f"/v1/accounts/{pupil_id}", headers=other_admin)).status_code == 200


async def test_admins_never_act_on_their_peers_or_grant_their_own_rank(identity):
    _, county_admin = await _admin(identity, "county_admin", COUNTY)
    peer_id, _peer_phone = await _admin(identity, "county_admin", COUNTY)
    school_admin_id, _ = await _admin(identity, "school_admin", SCHOOL)

    assert (await identity.client.post(f"/v1/accounts/{peer_id}/deactivate", headers=county_admin)).status_code == 403
    revoke_peer = await identity.client.post(
        "/v1/role-revocations", headers=county_admin, json={"user_id": peer_id, "role": "county_admin", "org": COUNTY}
    )
    assert revoke_peer.status_code == 403
    # below it, in its subtree: allowed (and audited)
    assert (await identity.client.get(f"/v1/accounts/{school_admin_id}", headers=county_admin)).status_code == 200
    revoked = await identity.client.post(
        "/v1/role-revocations",
        headers=county_admin,
        json={"user_id": school_admin_id, "role": "school_admin", "org": SCHOOL},
    )
    assert revoked.json() == {"changed": True, "status": "revoked"}


# --- teacher national IDs and school codes (hole 9) ------------------------------------------------------------
REAL_TEACHER_NID = "430102198001010011"  # the fake registry lists 王芳 at school-430102002


async def test_a_rejected_verification_claims_no_national_id(identity):
    squatter_id, squatter_phone = await identity.register("teacher")  # named 李明: the registry says 王芳
    tried = await identity.client.post(
        "/v1/teacher-verifications",
        headers=await identity.bearer(squatter_phone),
        json={"national_id": REAL_TEACHER_NID},
    )
    assert tried.json() == {"outcome": "rejected"}
    # the real teacher registers later and is verified with her own number
    _teacher_id, teacher_phone = await identity.register("teacher", real_name="王芳")
    mine = await identity.client.post(
        "/v1/teacher-verifications",
        headers=await identity.bearer(teacher_phone),
        json={"national_id": REAL_TEACHER_NID},
    )
    assert mine.status_code == 200 and mine.json() == {"outcome": "verified"}
    squatter = await identity.service.store.accounts.account(squatter_id)
    assert squatter.national_id_enc is None and squatter.roles == []


async def test_an_unreachable_registry_claims_no_national_id(identity):
    from identity.registry import TeacherRegistry

    _, phone = await identity.register("teacher", real_name="王芳")
    h = await identity.bearer(phone)
    service = identity.service
    working = service.registry
    service.registry = TeacherRegistry("http://127.0.0.1:9", timeout=0.5)  # nothing listens there
    try:
        down = await identity.client.post(
            "/v1/teacher-verifications", headers=h, json={"national_id": "440106199001010013"}
        )
        assert down.status_code == 503
    finally:
        await service.registry.close()
        service.registry = working
    nid_key = f"nid:{service.vault.lookup_hash('nid', '440106199001010013')}"
    assert await service.store.db["nids"].find_one({"_id": nid_key}) is None


async def test_school_codes_are_unique_nationally(identity):
    _, county_admin = await _admin(identity, "county_admin", "cn/43/4301/430104")
    copy = await identity.client.post(
        "/v1/orgs",
        headers=county_admin,
        json={
            "parent": "cn/43/4301/430104",
            "code": "school-430102002",
            "name": "长沙市芙蓉区实验中学",
            "level": "school",
        },
    )
    assert copy.status_code == 409 and copy.json()["code"] == "duplicate_org_code"
    assert "cn/43/4301/430104/school-430102002" not in identity.service.tree.nodes
    created = await identity.client.post(
        "/v1/orgs",
        headers=county_admin,
        json={"parent": "cn/43/4301/430104", "code": "school-430104777", "name": "新学校", "level": "school"},
    )
    assert created.status_code == 201
    again = await identity.client.post(
        "/v1/orgs",
        headers=county_admin,
        json={"parent": "cn/43/4301/430104", "code": "school-430104777", "name": "改名", "level": "school"},
    )
    assert again.status_code == 409
    assert identity.service.tree.nodes["cn/43/4301/430104/school-430104777"].name == "新学校"
