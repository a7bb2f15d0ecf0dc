"""Famous-teacher studios (名师工作室) through the public API on real Kafka, FerretDB and the object store: a verified
teacher opens one, teachers of other schools apply and are approved or rejected, members share catalog resources
(known from the catalog's own feed, withdrawn ones drop out), the leader schedules teaching-research activities
with catalog resources and uploaded files (real bytes through the presigned POST, checked on submission), members
leave; the public page names no one; object-level access between studios; area admins see their area only."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from common.contracts.catalog import ResourceWithdrawn
from common.contracts.classgroups import STUDIOS_TOPIC
from tests.integration.classgroups.conftest import (
    OTHER_SCHOOL,
    SCHOOL,
    Events,
    Running,
    presigned_upload,
    topic_events,
)
from tests.integration.classgroups.media_samples import jpeg
from tests.integration.common.helpers import published

pytestmark = pytest.mark.integration
HUBEI_SCHOOL = "cn/42/4201/420102/school-420102001"
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
T = "cn.smartedu.classgroups.studio."


@pytest.fixture(scope="module")
async def studio_events() -> AsyncIterator[Events]:
    async with topic_events(STUDIOS_TOPIC) as seen:
        yield seen


async def new_studio(cg: Running, leader: str, name: str = "王老师数学工作室") -> str:
    body = {"name": name, "intro": "小学数学教研", "subject": "math"}
    r = await cg.client.post("/v1/studios", json=body, headers=cg.as_(leader))
    assert r.status_code == 201, r.text
    return r.json()["id"]


async def member_of(cg: Running, studio: str, leader: str, teacher: str) -> None:
    assert (await cg.client.post(f"/v1/studios/{studio}/applications", headers=cg.as_(teacher))).status_code == 201
    r = await cg.client.post(f"/v1/studios/{studio}/members/{teacher}/approve", headers=cg.as_(leader))
    assert r.status_code == 200 and r.json()["status"] == "active", r.text


async def catalog_resource(cg: Running, title: str = "分数的加法和减法") -> str:
    """A resource the catalog published, once class groups learned it from the catalog's feed."""
    event = published(title=title)
    await cg.publish(event)
    rid = event.resource.id
    await cg.until(lambda: _published(cg, rid))
    return rid


async def _published(cg: Running, rid: str) -> bool:
    return rid in await cg.handlers.store.studios.published([rid])


async def upload(cg: Running, studio: str, leader: str, data: bytes, ctype: str) -> tuple[str, httpx.Response]:
    body = {"content_type": ctype, "size": len(data)}
    return await presigned_upload(cg, f"/v1/studios/{studio}/uploads", body, cg.as_(leader), data)


def activity(*materials: dict, days: int = 3) -> dict:
    starts = datetime.now(UTC) + timedelta(days=days)
    return {
        "title": "同课异构：分数的意义",
        "agenda": "说课、观课、议课",
        "place": "区教研室 201",
        "starts_at": starts.isoformat(),
        "ends_at": (starts + timedelta(hours=2)).isoformat(),
        "materials": list(materials),
    }


async def test_a_studio_from_application_to_activity(classgroups: Running, studio_events: Events) -> None:
    cg = classgroups
    leader = await cg.account("teacher", verified_school=SCHOOL)
    guest = await cg.account("teacher", verified_school=OTHER_SCHOOL)  # a teacher of another province's school
    refused = await cg.account("teacher", verified_school=SCHOOL)
    unverified, student = await cg.account("teacher"), await cg.account("student", f"student@{SCHOOL}")

    # only a verified teacher opens a studio; its area is the teacher's school
    for who in (unverified, student):
        r = await cg.client.post("/v1/studios", json={"name": "x"}, headers=cg.as_(who))
        assert r.status_code == 403 and r.json()["code"] == "not_verified_teacher"
    r = await cg.client.post("/v1/studios", json={"name": "", "subject": "Math!"}, headers=cg.as_(leader))
    assert r.status_code == 422 and {e["field"] for e in r.json()["errors"]} >= {"body.name", "body.subject"}
    sid = await new_studio(cg, leader)
    created = await studio_events.wait_for(T + "created.v1", lambda e: e["studio_id"] == sid)
    assert created["leader_id"] == leader and created["area"] == SCHOOL

    # the public page and listing: no sign-in, no person
    page = (await cg.client.get(f"/v1/public/studios/{sid}")).json()
    assert page["name"] == "王老师数学工作室" and page["members"] == 0 and page["area"] == SCHOOL
    assert leader not in str(page)
    listing = (await cg.client.get("/v1/public/studios", params={"limit": 100})).json()
    assert sid in [s["id"] for s in listing["studios"]] and leader not in str(listing)
    assert (await cg.client.get("/v1/public/studios", params={"limit": 0})).status_code == 422

    # teachers of any school apply; the leader approves or rejects; students do not apply
    assert (await cg.client.post(f"/v1/studios/{sid}/applications", headers=cg.as_(student))).status_code == 403
    r = await cg.client.post(f"/v1/studios/{sid}/applications", headers=cg.as_(guest))
    assert r.status_code == 201 and r.json()["status"] == "pending"
    await studio_events.wait_for(T + "member.applied.v1", lambda e: e["account_id"] == guest)
    again = await cg.client.post(f"/v1/studios/{sid}/applications", headers=cg.as_(guest))
    assert again.status_code == 409 and again.json()["code"] == "already_applied"
    assert (await cg.client.post(f"/v1/studios/{sid}/applications", headers=cg.as_(leader))).status_code == 409
    # an applicant sees neither members nor activities; nor decides
    assert (await cg.client.get(f"/v1/studios/{sid}/activities", headers=cg.as_(guest))).status_code == 403
    r = await cg.client.post(f"/v1/studios/{sid}/members/{guest}/approve", headers=cg.as_(guest))
    assert r.status_code == 403
    r = await cg.client.post(f"/v1/studios/{sid}/members/{guest}/approve", headers=cg.as_(leader))
    assert r.status_code == 200 and r.json()["status"] == "active"
    joined = await studio_events.wait_for(T + "member.joined.v1", lambda e: e["account_id"] == guest)
    assert joined["approved_by"] == leader
    assert (await cg.client.post(f"/v1/studios/{sid}/applications", headers=cg.as_(refused))).status_code == 201
    r = await cg.client.post(f"/v1/studios/{sid}/members/{refused}/reject", headers=cg.as_(leader))
    assert r.status_code == 200 and r.json()["status"] == "rejected"
    rejected = await studio_events.wait_for(T + "member.left.v1", lambda e: e["account_id"] == refused)
    assert rejected["reason"] == "rejected"
    r = await cg.client.post(f"/v1/studios/{sid}/members/{refused}/approve", headers=cg.as_(leader))
    assert r.status_code == 404 and r.json()["code"] == "application_not_found"
    members = (await cg.client.get(f"/v1/studios/{sid}/members", headers=cg.as_(guest))).json()
    assert [(m["account_id"], m["status"]) for m in members] == [(guest, "active")]
    assert (await cg.client.get(f"/v1/public/studios/{sid}")).json()["members"] == 1

    # shared resources: what the catalog's feed says is published; a withdrawn one drops out of the page
    rid = await catalog_resource(cg)
    r = await cg.client.post(f"/v1/studios/{sid}/resources", json={"resource_id": rid}, headers=cg.as_(guest))
    assert r.status_code == 200 and r.json()["added"] is True, r.text
    r = await cg.client.post(f"/v1/studios/{sid}/resources", json={"resource_id": "res-never"}, headers=cg.as_(guest))
    assert r.status_code == 422 and r.json()["code"] == "unknown_resource"
    r = await cg.client.post(f"/v1/studios/{sid}/resources", json={"resource_id": rid}, headers=cg.as_(refused))
    assert r.status_code == 403
    assert [x["resource_id"] for x in (await cg.client.get(f"/v1/public/studios/{sid}")).json()["resources"]] == [rid]
    gone = await catalog_resource(cg, "将被撤下的资源")
    await cg.client.post(f"/v1/studios/{sid}/resources", json={"resource_id": gone}, headers=cg.as_(leader))
    at = datetime.now(UTC)
    await cg.publish(
        ResourceWithdrawn(resource_id=gone, version=1, reason="过期", withdrawn_at=at, cursor=f"c-{gone}z")
    )
    await cg.until(lambda: _gone(cg, gone))
    assert [x["resource_id"] for x in (await cg.client.get(f"/v1/public/studios/{sid}")).json()["resources"]] == [rid]

    # an activity with a catalog resource and an uploaded PDF (real bytes, checked on submission)
    key, done = await upload(cg, sid, leader, PDF, "application/pdf")
    assert done.status_code in (200, 201, 204), done.text
    body = activity({"resource_id": rid}, {"key": key, "content_type": "application/pdf"})
    r = await cg.client.post(f"/v1/studios/{sid}/activities", json=body, headers=cg.as_(leader))
    assert r.status_code == 201, r.text
    act = r.json()["id"]
    scheduled = await studio_events.wait_for(T + "activity.scheduled.v1", lambda e: e["activity_id"] == act)
    assert scheduled["materials"] == 2 and "agenda" not in scheduled and "title" not in scheduled
    assert (await cg.client.post(f"/v1/studios/{sid}/activities", json=body, headers=cg.as_(guest))).status_code == 403
    seen = (await cg.client.get(f"/v1/studios/{sid}/activities", headers=cg.as_(guest))).json()
    materials = next(a for a in seen if a["id"] == act)["materials"]
    assert materials[0] == {"kind": "resource", "resource_id": rid, "title": "分数的加法和减法"}
    async with httpx.AsyncClient(timeout=30) as s3:
        assert (await s3.get(materials[1]["url"])).content == PDF
    # members-only: an outsider, a rejected applicant, an anonymous caller see no material
    for headers in (cg.as_(refused), cg.as_(student)):
        assert (await cg.client.get(f"/v1/studios/{sid}/activities", headers=headers)).status_code == 403
    assert (await cg.client.get(f"/v1/studios/{sid}/activities")).status_code == 401

    # members leave; then they see nothing
    r = await cg.client.post(f"/v1/studios/{sid}/leave", headers=cg.as_(guest))
    assert r.status_code == 200 and r.json()["status"] == "left"
    left = await studio_events.wait_for(T + "member.left.v1", lambda e: e["account_id"] == guest)
    assert left["reason"] == "left" and left["by"] == guest
    assert (await cg.client.get(f"/v1/studios/{sid}/activities", headers=cg.as_(guest))).status_code == 403
    assert (await cg.client.post(f"/v1/studios/{sid}/leave", headers=cg.as_(leader))).status_code == 403


async def _gone(cg: Running, rid: str) -> bool:
    return not await _published(cg, rid)


async def test_materials_must_be_what_they_claim(classgroups: Running) -> None:
    cg = classgroups
    leader = await cg.account("teacher", verified_school=SCHOOL)
    sid, other = await new_studio(cg, leader), await new_studio(cg, leader, "第二工作室")
    url = f"/v1/studios/{sid}/activities"

    # a JPEG uploaded under a PDF policy: the store takes the bytes, the service reads them and refuses
    key, done = await upload(cg, sid, leader, jpeg(), "application/pdf")
    assert done.is_success, done.text
    r = await cg.client.post(
        url, json=activity({"key": key, "content_type": "application/pdf"}), headers=cg.as_(leader)
    )
    assert r.status_code == 422 and r.json()["code"] == "media_type_mismatch", r.text
    assert r.json()["errors"][0]["field"].endswith("materials.0.content_type")
    # a key never uploaded
    never = f"studios/{sid}/{leader}/{'0' * 32}"
    r = await cg.client.post(
        url, json=activity({"key": never, "content_type": "application/pdf"}), headers=cg.as_(leader)
    )
    assert r.status_code == 422 and r.json()["code"] == "media_missing"
    # an upload of another studio
    foreign, _ = await upload(cg, other, leader, PDF, "application/pdf")
    r = await cg.client.post(
        url, json=activity({"key": foreign, "content_type": "application/pdf"}), headers=cg.as_(leader)
    )
    assert r.status_code == 422 and r.json()["code"] == "media_foreign"
    # a type no material may be, an upload too large, a schedule backwards or in the past: field by field
    r = await cg.client.post(
        f"/v1/studios/{sid}/uploads",
        json={"content_type": "application/x-msdownload", "size": 10},
        headers=cg.as_(leader),
    )
    assert r.status_code == 422 and r.json()["code"] == "media_type_refused"
    r = await cg.client.post(
        f"/v1/studios/{sid}/uploads", json={"content_type": "application/pdf", "size": 10**9}, headers=cg.as_(leader)
    )
    assert r.status_code == 422 and r.json()["code"] == "media_too_large"
    body = activity()
    body["ends_at"] = body["starts_at"]
    r = await cg.client.post(url, json=body, headers=cg.as_(leader))
    assert r.status_code == 422 and r.json()["code"] == "backwards"
    r = await cg.client.post(url, json=activity(days=-1), headers=cg.as_(leader))
    assert r.status_code == 422 and r.json()["code"] == "in_the_past"
    r = await cg.client.post(url, json=activity({"resource_id": "r", "key": key}), headers=cg.as_(leader))
    assert r.status_code == 422
    # nothing was scheduled by any refused request
    assert (await cg.client.get(url, headers=cg.as_(leader))).json() == []


async def test_a_member_of_one_studio_never_changes_another(classgroups: Running) -> None:
    cg = classgroups
    lead_a, lead_b = [await cg.account("teacher", verified_school=SCHOOL) for _ in range(2)]
    member_a = await cg.account("teacher", verified_school=OTHER_SCHOOL)
    applicant_b = await cg.account("teacher", verified_school=OTHER_SCHOOL)
    a, b = await new_studio(cg, lead_a, "甲工作室"), await new_studio(cg, lead_b, "乙工作室")
    await member_of(cg, a, lead_a, member_a)
    assert (await cg.client.post(f"/v1/studios/{b}/applications", headers=cg.as_(applicant_b))).status_code == 201
    rid = await catalog_resource(cg)

    for who in (member_a, lead_a):  # the member and the leader of A, in B
        h = cg.as_(who)
        assert (await cg.client.post(f"/v1/studios/{b}/members/{applicant_b}/approve", headers=h)).status_code == 403
        assert (await cg.client.post(f"/v1/studios/{b}/members/{applicant_b}/reject", headers=h)).status_code == 403
        r = await cg.client.post(f"/v1/studios/{b}/resources", json={"resource_id": rid}, headers=h)
        assert r.status_code == 403
        assert (await cg.client.post(f"/v1/studios/{b}/activities", json=activity(), headers=h)).status_code == 403
        body = {"content_type": "application/pdf", "size": 10}
        assert (await cg.client.post(f"/v1/studios/{b}/uploads", json=body, headers=h)).status_code == 403
        assert (await cg.client.get(f"/v1/studios/{b}/members", headers=h)).status_code == 403
        assert (await cg.client.get(f"/v1/studios/{b}/activities", headers=h)).status_code == 403
        assert (await cg.client.post(f"/v1/studios/{b}/leave", headers=h)).status_code == 403
    # B is as it was: its application still waits, nothing shared, nothing scheduled
    members = (await cg.client.get(f"/v1/studios/{b}/members", headers=cg.as_(lead_b))).json()
    assert [(m["account_id"], m["status"]) for m in members] == [(applicant_b, "pending")]
    assert (await cg.client.get(f"/v1/public/studios/{b}")).json()["resources"] == []
    assert (await cg.client.get(f"/v1/studios/{b}/activities", headers=cg.as_(lead_b))).json() == []
    assert (await cg.client.get("/v1/public/studios/std-0000000000000000")).status_code == 404


async def test_area_admins_see_the_studios_of_their_area_only(classgroups: Running) -> None:
    cg = classgroups
    hunan_leader = await cg.account("teacher", verified_school=SCHOOL)
    hubei_leader = await cg.account("teacher", verified_school=HUBEI_SCHOOL)
    hunan, hubei = await new_studio(cg, hunan_leader, "湖南工作室"), await new_studio(cg, hubei_leader, "湖北工作室")
    admin = await cg.account("teacher")

    async def listed(area: str, *roles: str) -> httpx.Response:
        return await cg.client.get("/v1/studios", params={"area": area, "limit": 100}, headers=cg.as_(admin, *roles))

    ids = lambda r: {s["id"] for s in r.json()["studios"]}  # noqa: E731
    for role in ("province_admin@cn/43", "city_admin@cn/43/4301", "county_admin@cn/43/4301/430102"):
        area = role.partition("@")[2]
        r = await listed(area, role)
        assert r.status_code == 200 and hunan in ids(r) and hubei not in ids(r), (role, r.text)
        assert (await listed("cn/42", role)).status_code == 403
    r = await listed("cn/42", "province_admin@cn/42")
    assert hubei in ids(r) and hunan not in ids(r)
    assert hunan in ids(await listed("cn/43", "ministry_admin")) and hubei in ids(
        await listed("cn/42", "ministry_admin")
    )
    assert (await listed("cn/43", "school_admin@" + OTHER_SCHOOL)).status_code == 403
    assert (await listed("cn/43")).status_code == 403
    assert (await listed("../etc")).status_code == 422
