"""GET /v1/changes followed by a subscriber while an import and editorial writes on another replica are applied:
every change is served at least once and the subscriber ends at the final state (issue 14, "Two bugs")."""

from __future__ import annotations

import asyncio
import uuid

import orjson
import pytest

from catalog.domain.resource import resource_id
from tests.integration.catalog.test_catalog_api import ADMIN, content, publish_new
from tests.integration.common.helpers import eventually

pytestmark = pytest.mark.integration

IMPORTED = 3000


class Subscriber:
    """A provincial platform without Kafka: follows ``next`` from the beginning, asking whichever replica the
    load balancer picks, and keeps per resource the last state it was served and every (id, version) seen."""

    def __init__(self, clients: list) -> None:
        self.clients = clients
        self.after = ""
        self.polls = 0
        self.last: dict[str, tuple[str, int]] = {}  # id → (op, version) last served
        self.seen: set[tuple[str, int]] = set()

    async def poll(self) -> int:
        client = self.clients[self.polls % len(self.clients)]
        self.polls += 1
        r = await client.get("/v1/changes", params={"after": self.after, "limit": 300})
        assert r.status_code == 200, r.text
        page = r.json()
        for item in page["items"]:
            version = item["resource"]["version"] if item["op"] == "published" else item["version"]
            self.last[item["id"]] = (item["op"], version)
            self.seen.add((item["id"], version))
        self.after = page["next"]
        return len(page["items"])

    async def follow(self, until: asyncio.Event) -> None:
        while not until.is_set():
            await self.poll()
            await asyncio.sleep(0.01)


async def editorial_writes(client, tokens, run: str, n: int = 24) -> dict[str, tuple[str, int]]:
    """Create, submit and publish ``n`` resources on one replica, withdrawing every third: their final states."""
    admin = tokens.headers(*ADMIN)
    final = {}
    for i in range(n):
        rid = await publish_new(client, tokens, f"{run}-feed-ed-{i}", f"变更订阅测试 编辑 {i}")
        final[rid] = ("published", 1)
        if i % 3 == 0:
            r = await client.post(f"/v1/resources/{rid}/withdraw", json={"reason": "调整"}, headers=admin)
            assert r.status_code == 200
            final[rid] = ("withdrawn", 1)
    return final


async def test_a_subscriber_polling_during_an_import_and_writes_on_two_replicas_misses_nothing(catalog, tokens, run_id):
    from tests.integration.catalog.conftest import start, stop

    run = f"{run_id}-{uuid.uuid4().hex[:4]}"
    other = await start(run_id, "feed-b", tokens)
    try:
        await asyncio.wait_for(other.app.state.catalog.replica.heads_ready.wait(), 300)
        subscriber = Subscriber([catalog.client, other.client])
        while await subscriber.poll():  # the shared topic's earlier changes: not this test's business
            pass
        # A large import applied in many chunks, so the subscriber polls between them.
        catalog.app.state.settings.import_chunk = 100
        rows = [
            {
                "type": "resource",
                "external_id": f"{run}-feed-imp-{i}",
                "provider_kind": "province",
                "provider_id": "prov-hn",
                "content": content(title=f"变更订阅测试 导入 {i}"),
            }
            for i in range(IMPORTED)
        ]
        expected = {resource_id("prov-hn", row["external_id"]): ("published", 1) for row in rows}
        writing_done, polls_before = asyncio.Event(), subscriber.polls
        following = asyncio.create_task(subscriber.follow(writing_done))
        imported, edited = await asyncio.gather(
            catalog.client.post(
                "/v1/import",
                content=b"\n".join(orjson.dumps(r) for r in rows),
                headers=tokens.headers(*ADMIN),
            ),
            editorial_writes(other.client, tokens, run),
        )
        assert imported.status_code == 200 and imported.json()["created"] == IMPORTED, imported.text
        expected |= edited
        polls_during_writes = subscriber.polls - polls_before
        writing_done.set()
        await following
        assert polls_during_writes > 10  # the subscriber really did poll while the changes were being applied

        # Then it follows the feed until it has caught up (the relay and the replicas' consumers finish
        # meanwhile): nothing may be missing, and the last state served is the final one.
        async def caught_up():
            while await subscriber.poll():
                pass
            return all(subscriber.last.get(rid) == state for rid, state in expected.items())

        try:
            await eventually(caught_up, timeout=120, every=0.5)
        finally:
            missing = {(rid, v) for rid, (_, v) in expected.items()} - subscriber.seen
            wrong = {rid for rid, state in expected.items() if subscriber.last.get(rid) != state}
            print(f"missing {len(missing)} of {len(expected)}, {len(wrong)} not in their final state")
        assert {(rid, v) for rid, (_, v) in expected.items()} <= subscriber.seen
        for rid, (op, _) in list(expected.items())[:: len(expected) // 20]:  # the final state, as detail says
            status = (await catalog.client.get(f"/v1/resources/{rid}")).status_code
            assert status == (200 if op == "published" else 404)
    finally:
        await stop(other)


@pytest.mark.parametrize(
    "after",
    [
        "eyJwIjpbMV19",  # {"p":[1]}: a position of the wrong length
        "eyJwIjpbLTEsMCwwLDAsMCwwLDAsMCwwLDAsMCwwXX0",  # a negative offset
        "eyJvIjo1fQ",  # a list cursor
        "bm90IGpzb24",  # base64 of "not json"
    ],
)
async def test_a_forged_change_cursor_is_a_422_problem(catalog, after):
    r = await catalog.client.get("/v1/changes", params={"after": after})
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["errors"][0]["field"].startswith("query.after")


async def test_a_cursor_of_the_retired_wall_clock_format_starts_over_from_the_beginning(catalog):
    first = (await catalog.client.get("/v1/changes", params={"limit": 5})).json()
    old = (await catalog.client.get("/v1/changes", params={"after": "17330000000000000-r1", "limit": 5})).json()
    assert old == first
