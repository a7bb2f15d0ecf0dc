"""Class announcements (班级通知) with read receipts: the teacher sees who has not read one; a parent's reading
counts for their child; nobody outside the class reads or marks anything."""

from __future__ import annotations

import pytest

from tests.integration.classgroups.conftest import SCHOOL, Running
from tests.integration.classgroups.test_classes import ADMIN, admin_class, roster

pytestmark = pytest.mark.integration


async def test_announcement_read_receipts(classgroups: Running, events) -> None:
    cg = classgroups
    admin = await cg.account("teacher", ADMIN)
    head = await cg.account("teacher", verified_school=SCHOOL)
    s1, s2, s3 = [await cg.account("student", f"student@{SCHOOL}") for _ in range(3)]
    parent = await cg.account("parent")
    outsider = await cg.account("student", f"student@{SCHOOL}")
    await cg.link(s2, parent)
    cid = await admin_class(cg, admin, "通知班", 2032)
    other = await admin_class(cg, admin, "别的班", 2032)
    await roster(cg, admin, cid, "\n".join(f'{{"account_id": "{s}"}}' for s in (s1, s2, s3)))
    await roster(cg, admin, other, f'{{"account_id": "{outsider}"}}')
    r = await cg.client.put(f"/v1/classes/{cid}/teachers", json={"head_teacher_id": head}, headers=cg.as_(admin, ADMIN))
    assert r.status_code == 200, r.text

    body = {"title": "明天春游", "body": "请带好水杯和帽子。"}
    assert (await cg.client.post(f"/v1/classes/{cid}/announcements", json=body, headers=cg.as_(s1))).status_code == 403
    r = await cg.client.post(f"/v1/classes/{cid}/announcements", json=body, headers=cg.as_(head))
    assert r.status_code == 201, r.text
    aid = r.json()["id"]
    posted = await events.wait_for(
        "cn.smartedu.classgroups.announcement.posted.v1", lambda e: e["announcement_id"] == aid
    )
    assert "body" not in posted and "title" not in posted  # the text stays in the service

    # s1 reads it (twice: idempotent), s2's parent reads it for s2; s3 does not
    url = f"/v1/classes/{cid}/announcements/{aid}"
    assert (await cg.client.post(f"{url}/read", headers=cg.as_(s1))).json()["first_reading"] is True
    assert (await cg.client.post(f"{url}/read", headers=cg.as_(s1))).json()["first_reading"] is False
    assert (await cg.client.post(f"{url}/read", headers=cg.as_(parent))).status_code == 200
    # outside the class: a student of another class neither reads the list nor marks it, under either class's id
    assert (await cg.client.get(f"/v1/classes/{cid}/announcements", headers=cg.as_(outsider))).status_code == 404
    assert (await cg.client.post(f"{url}/read", headers=cg.as_(outsider))).status_code == 404
    assert (
        await cg.client.post(f"/v1/classes/{other}/announcements/{aid}/read", headers=cg.as_(outsider))
    ).status_code == 404

    r = await cg.client.get(f"{url}/receipts", headers=cg.as_(head))
    assert r.status_code == 200, r.text
    receipts = r.json()
    assert {x["account_id"]: x["by_guardian"] for x in receipts["read"]} == {s1: False, s2: True}
    assert receipts["unread"] == [{"account_id": s3}]
    # students do not see the receipts; they do see whether they read it
    assert (await cg.client.get(f"{url}/receipts", headers=cg.as_(s1))).status_code == 403
    listed = (await cg.client.get(f"/v1/classes/{cid}/announcements", headers=cg.as_(s3))).json()
    assert [(a["id"], a["read"]) for a in listed] == [(aid, False)]
