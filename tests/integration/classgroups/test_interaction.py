"""Classroom interaction (课堂互动): roll call without repeats in a round (also from two screens at once), absent
students never called; quick polls with one ballot per student, anonymity, live results, closing."""

from __future__ import annotations

import asyncio

import pytest

from tests.integration.classgroups.conftest import SCHOOL, Running
from tests.integration.classgroups.test_classes import ADMIN, admin_class, roster
from tests.integration.classgroups.test_leaves import leave

pytestmark = pytest.mark.integration


async def _class(cg: Running, n: int, name: str, year: int) -> tuple[str, str, list[str]]:
    admin = await cg.account("teacher", ADMIN)
    head = await cg.account("teacher", verified_school=SCHOOL)
    students = [await cg.account("student", f"student@{SCHOOL}") for _ in range(n)]
    cid = await admin_class(cg, admin, name, year)
    await roster(cg, admin, cid, "\n".join(f'{{"account_id": "{s}"}}' for s in students))
    r = await cg.client.put(f"/v1/classes/{cid}/teachers", json={"head_teacher_id": head}, headers=cg.as_(admin, ADMIN))
    assert r.status_code == 200, r.text
    return cid, head, students


async def test_roll_call_calls_everyone_present_once_per_round(classgroups: Running, events) -> None:
    cg = classgroups
    cid, head, students = await _class(cg, 6, "点名班", 2035)
    sick = students[0]
    r = await cg.client.post(f"/v1/classes/{cid}/leaves", json=leave(sick), headers=cg.as_(sick))
    await cg.client.post(f"/v1/classes/{cid}/leaves/{r.json()['id']}/approve", json={}, headers=cg.as_(head))
    present = set(students[1:])
    url = f"/v1/classes/{cid}/roll-calls"
    # two screens call at once: five calls, five different students, never the absent one
    first = await asyncio.gather(*[cg.client.post(url, headers=cg.as_(head)) for _ in range(5)])
    called = [r.json()["student_id"] for r in first]
    assert all(r.status_code == 200 for r in first), [r.text for r in first]
    assert set(called) == present and {r.json()["round"] for r in first} == {1}
    # everyone was called: the next call starts round 2
    r = await cg.client.post(url, headers=cg.as_(head))
    assert r.json()["round"] == 2 and r.json()["student_id"] in present and r.json()["not_yet_called"] == 4
    assert (await cg.client.post(url, headers=cg.as_(students[1]))).status_code == 403
    # each call is one event (the winning insert's): six, in rounds 1 and 2
    await cg.relayed()
    calls = [
        e for t, e in await events.drain() if t == "cn.smartedu.classgroups.roll.called.v1" and e["class_id"] == cid
    ]
    assert sorted((e["round"], e["student_id"]) for e in calls) == sorted(
        [(1, s) for s in called] + [(2, r.json()["student_id"])]
    )
    assert all(e["by"] == head for e in calls)


async def test_polls(classgroups: Running, events) -> None:
    cg = classgroups
    cid, head, (s1, s2, s3) = await _class(cg, 3, "投票班", 2036)
    url = f"/v1/classes/{cid}/polls"
    body = {"question": "春游去哪里？", "options": ["岳麓山", "橘子洲", "植物园"], "multiple": False}
    assert (await cg.client.post(url, json=body, headers=cg.as_(s1))).status_code == 403
    r = await cg.client.post(url, json=body, headers=cg.as_(head))
    assert r.status_code == 201, r.text
    poll = r.json()["id"]
    opened = await events.wait_for("cn.smartedu.classgroups.poll.opened.v1", lambda e: e["poll_id"] == poll)
    assert (opened["options"], opened["multiple"], opened["by"]) == (3, False, head)
    assert "春游" not in str(opened) and "岳麓山" not in str(opened)  # the question stays in the class
    # ten concurrent ballots of one student: one counts
    tries = await asyncio.gather(
        *[cg.client.post(f"{url}/{poll}/votes", json={"choices": [0]}, headers=cg.as_(s1)) for _ in range(10)]
    )
    assert sorted(r.status_code for r in tries) == [204] + [409] * 9
    r = await cg.client.post(f"{url}/{poll}/votes", json={"choices": [0, 1]}, headers=cg.as_(s2))
    assert r.status_code == 422 and r.json()["code"] == "single_choice"
    r = await cg.client.post(f"{url}/{poll}/votes", json={"choices": [7]}, headers=cg.as_(s2))
    assert r.status_code == 422
    assert (await cg.client.post(f"{url}/{poll}/votes", json={"choices": [2]}, headers=cg.as_(s2))).status_code == 204
    # live results: the teacher sees the ballots of a named poll, a student only the counts
    r = await cg.client.get(f"{url}/{poll}", headers=cg.as_(head))
    res = r.json()["results"]
    assert [o["votes"] for o in res["options"]] == [1, 0, 1] and res["voters"] == 2
    assert {b["student_id"] for b in res["ballots"]} == {s1, s2}
    assert "ballots" not in (await cg.client.get(f"{url}/{poll}", headers=cg.as_(s3))).json()["results"]
    # closed: final, no more ballots
    assert (await cg.client.post(f"{url}/{poll}/close", headers=cg.as_(head))).json()["open"] is False
    r = await cg.client.post(f"{url}/{poll}/votes", json={"choices": [1]}, headers=cg.as_(s3))
    assert r.status_code == 409 and r.json()["code"] == "closed"
    closed = await events.wait_for("cn.smartedu.classgroups.poll.closed.v1", lambda e: e["poll_id"] == poll)
    assert (closed["votes"], closed["voters"]) == ([1, 0, 1], 2) and s1 not in str(closed)


async def test_anonymous_poll_keeps_no_voter_ids(classgroups: Running) -> None:
    cg = classgroups
    cid, head, (s1, s2) = await _class(cg, 2, "匿名班", 2037)
    url = f"/v1/classes/{cid}/polls"
    body = {"question": "今天的作业难吗？", "options": ["难", "一般", "简单"], "multiple": True, "anonymous": True}
    poll = (await cg.client.post(url, json=body, headers=cg.as_(head))).json()["id"]
    for s, choices in ((s1, [0, 1]), (s2, [1])):
        assert (await cg.client.post(f"{url}/{poll}/votes", json={"choices": choices}, headers=cg.as_(s))).is_success
    res = (await cg.client.get(f"{url}/{poll}", headers=cg.as_(head))).json()["results"]
    assert [o["votes"] for o in res["options"]] == [1, 2, 0] and "ballots" not in res
    stored = await cg.handlers.store.db["votes"].find({"poll": poll}).to_list(None)
    assert len(stored) == 2 and not {s1, s2} & {d["voter"] for d in stored}
    assert (await cg.client.post(f"{url}/{poll}/votes", json={"choices": [2]}, headers=cg.as_(s1))).status_code == 409
