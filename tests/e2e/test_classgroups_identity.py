"""Identity's own events drive class groups, each service its own process on the real Kafka and store: a role
granted in identity lets a student be rostered, a guardian link approved in identity lets the parent see the
child's class, a revocation takes effect in class groups without a restart, a deactivation takes the child off
the roster."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.conftest import free_port
from tests.e2e.test_identity_catalog_recommender import PASSWORD, identity_with_admin
from tests.integration.common.helpers import eventually

pytestmark = pytest.mark.e2e

SCHOOL = "cn/43/4301/430102/school-430102001"


@pytest.fixture
def platform(service_process):
    # a database of its own: identity's first-admin step runs once per database (the other e2e tests take it)
    own = {"MONGODB_DATABASE_PREFIX": f"test_e2e_cg_{uuid.uuid4().hex[:8]}_"}
    identity, admin_phone = identity_with_admin(service_process, **own)
    jwks = {"AUTH_JWKS_URL": f"{identity.url}/.well-known/jwks.json"}
    classgroups = service_process("classgroups.app:create_app", free_port(), **jwks, **own).start(timeout=120)
    return {"identity": identity.url, "classgroups": classgroups.url, "admin": admin_phone}


async def test_identity_events_drive_rosters_and_guardians(platform) -> None:
    idn, cg = platform["identity"], platform["classgroups"]
    tag = uuid.uuid4().hex[:8]
    async with httpx.AsyncClient(timeout=30) as http:

        async def register(kind: str) -> tuple[str, dict[str, str]]:
            email = f"{kind}-{uuid.uuid4().hex[:8]}@e2e.example.cn"
            body = {"email": email, "password": PASSWORD, "real_name": "测试用户", "kind": kind}
            r = await http.post(f"{idn}/v1/accounts", json=body)
            assert r.status_code == 201, r.text
            login = await http.post(f"{idn}/v1/sessions", json={"identifier": email, "password": PASSWORD})
            return r.json()["user_id"], {"Authorization": f"Bearer {login.json()['access_token']}"}

        r = await http.post(f"{idn}/v1/sessions", json={"identifier": platform["admin"], "password": PASSWORD})
        admin = {"Authorization": f"Bearer {r.json()['access_token']}"}
        child, _ = await register("student")
        leaver, _ = await register("student")
        parent_id, parent = await register("parent")
        for student in (child, leaver):
            grant = {"user_id": student, "role": "student", "org": SCHOOL}
            assert (await http.post(f"{idn}/v1/role-grants", json=grant, headers=admin)).status_code == 200

        body = {"school": SCHOOL, "school_year": 2026, "grade": 4, "name": f"2026级{tag}班"}
        r = await http.post(f"{cg}/v1/administrative-classes", json=body, headers=admin)
        assert r.status_code == 201, r.text
        cid = r.json()["id"]

        async def rostered() -> bool:
            r = await http.post(
                f"{cg}/v1/classes/{cid}/roster",
                content=f'{{"account_id": "{child}"}}\n{{"account_id": "{leaver}"}}'.encode(),
                headers={**admin, "Content-Type": "application/x-ndjson"},
            )
            return r.status_code == 200 and r.json()["added"] + r.json()["already"] == 2

        await eventually(rostered, timeout=60)  # once class groups has identity's RoleGranted

        # the guardian link, requested and approved in identity, reaches class groups
        r = await http.post(f"{idn}/v1/guardian-links", json={"child_id": child}, headers=parent)
        assert r.status_code == 201, r.text
        r = await http.post(f"{idn}/v1/guardian-links/{child}/{parent_id}/approve", headers=admin)
        assert r.status_code == 200, r.text

        async def parent_sees() -> bool:
            r = await http.get(f"{cg}/v1/students/{child}/classes", headers=parent)
            return r.status_code == 200 and [c["id"] for c in r.json()] == [cid]

        await eventually(parent_sees, timeout=60)
        assert (await http.get(f"{cg}/v1/students/{leaver}/classes", headers=parent)).status_code == 404

        # the other student leaves the school in identity: class groups refuses to roster them in next year's
        # class, without a restart
        revoke = {"user_id": leaver, "role": "student", "org": SCHOOL}
        assert (await http.post(f"{idn}/v1/role-revocations", json=revoke, headers=admin)).status_code == 200
        r = await http.post(f"{cg}/v1/administrative-classes", json={**body, "school_year": 2027}, headers=admin)
        next_year = r.json()["id"]

        async def refused() -> bool:
            r = await http.post(
                f"{cg}/v1/classes/{next_year}/roster",
                content=f"account_id\n{leaver}\n".encode(),
                headers={**admin, "Content-Type": "text/csv"},
            )
            return r.status_code == 200 and [b["reason"] for b in r.json()["bad"]] == ["not_a_student_of_the_school"]

        await eventually(refused, timeout=60)

        # identity deactivates the child's account: class groups takes the child off the class's roster (its
        # own event, member.left.v1 reason removed), without a restart
        assert (await http.post(f"{idn}/v1/accounts/{child}/deactivate", headers=admin)).status_code == 204

        async def off_the_roster() -> bool:
            r = await http.get(f"{cg}/v1/classes/{cid}/members", headers=admin)
            return r.status_code == 200 and child not in [m["account_id"] for m in r.json()]

        await eventually(off_the_roster, timeout=60)
        r = await http.get(f"{cg}/v1/classes/{cid}/members", params={"status": "left"}, headers=admin)
        assert child in [m["account_id"] for m in r.json()], r.text
