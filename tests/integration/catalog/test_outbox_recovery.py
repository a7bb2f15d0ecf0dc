"""The catalog's events survive what happens between a write and its publication: a process killed there, and
Kafka down while editors keep writing. Afterwards every event id is on its topic (duplicates are allowed: the
delivery is at-least-once and consumers drop repeated ids), and no other event of these resources is."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import uuid
from pathlib import Path

import httpx
import orjson
import pytest
from prometheus_client import REGISTRY

from catalog.domain.resource import resource_id
from tests.conftest import ROOT, free_port
from tests.integration.catalog.conftest import AUD, ISS, start, stop
from tests.integration.catalog.test_catalog_api import ADMIN, demo_subset, publish_new
from tests.integration.common.helpers import eventually
from tests.integration.viewstats.conftest import end_offsets, records_since

pytestmark = pytest.mark.integration
TOPICS = ("catalog.resources.v1", "catalog.editorial.v1")


async def offsets(bootstrap: str) -> dict:
    return {topic: await end_offsets(bootstrap, topic) for topic in TOPICS}


async def event_ids(bootstrap: str, starts: dict, resource_ids: set[str]) -> list[str]:
    """The CloudEvents ids of these resources' records published since ``starts`` (repeats included)."""
    out = []
    for topic in TOPICS:
        out += [r.id for r in await records_since(bootstrap, starts[topic]) if r.key in resource_ids]
    return out


async def test_a_catalog_killed_between_the_write_and_the_publish_loses_no_event(
    service_process, tokens, kafka_bootstrap
) -> None:
    tag = uuid.uuid4().hex[:8]
    env = {
        "CATALOG_REPLICA_ID": "crash",
        "CATALOG_SEARCH_HEAP_BYTES": "60000000",
        "KAFKA_CLIENT_PREFIX": f"test-{tag}-",
        "MONGODB_DATABASE_PREFIX": f"test_{tag}_crash_",
    }
    auth = {
        "TEST_JWKS": json.dumps({"keys": [tokens.key.as_dict(private=False)]}),
        "TEST_ISSUER": ISS,
        "TEST_AUDIENCE": AUD,
    }
    rows = demo_subset(tag, n_lessons=4)
    rids = {resource_id(r["provider_id"], r["external_id"]) for r in rows if r["type"] == "resource"}
    starts = await offsets(kafka_bootstrap)
    dying = service_process(
        "tests.integration.catalog.crashing:create_app", free_port(), kafka_principal="catalog", **env, **auth
    )
    dying.start(timeout=180)
    async with httpx.AsyncClient(base_url=dying.url, timeout=60) as http:
        body = b"\n".join(orjson.dumps(r) for r in rows)
        while True:  # until the editorial heads are loaded (503 before)
            try:
                answer = await http.post("/v1/import", content=body, headers=tokens.headers(*ADMIN))
            except httpx.HTTPError:
                break  # it died before it answered
            assert answer.status_code in (200, 503), answer.text
            if answer.status_code == 200:
                assert answer.json()["created"] == len(rids)
                break
            await asyncio.sleep(1)
    assert dying.proc.wait(timeout=60) == -signal.SIGKILL
    assert await event_ids(kafka_bootstrap, starts, rids) == []  # the crash point held: nothing went out

    service_process("catalog.app:create_app", free_port(), **env).start(timeout=180)
    expected = {f"{rid}~1~0" for rid in rids}  # one ResourcePublished per imported revision

    async def all_published() -> bool:
        return set(await event_ids(kafka_bootstrap, starts, rids)) == expected

    await eventually(all_published, timeout=120, every=1)


def kafka_pid() -> int | None:
    """The test broker that deploy/local/infra.sh started (its pid file), if this run uses one."""
    state = Path(os.environ.get("SMARTEDU_STATE", ROOT / ".cache" / "test-state"))
    try:
        pid = int((state / "kafka.pid").read_text())
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError):
        return None


@pytest.mark.skipif(kafka_pid() is None, reason="needs the Kafka broker that deploy/local/infra.sh started")
async def test_editors_are_answered_while_kafka_is_down_and_every_event_arrives_after(
    run_id, tokens, kafka_bootstrap, monkeypatch
) -> None:
    monkeypatch.setenv("OUTBOX_PUBLISH_TIMEOUT_SECONDS", "2")  # the relay notices the outage soon
    replica = await start(run_id, "outage", tokens)
    pid = kafka_pid()
    assert pid is not None
    try:
        service, c = replica.app.state.catalog, replica.client
        await asyncio.wait_for(service.replica.heads_ready.wait(), 120)
        starts = await offsets(kafka_bootstrap)
        failed_before = relay_failures()
        rids = set()
        os.kill(pid, signal.SIGSTOP)  # Kafka stops answering, as behind a network partition
        try:
            for n in range(3):
                rid = await publish_new(c, tokens, f"outage-{uuid.uuid4().hex[:8]}", f"停机期间发布 {n}")
                rids.add(rid)
                assert (await c.get(f"/v1/resources/{rid}")).status_code == 200  # this replica applied it

            async def relay_failed() -> bool:
                return relay_failures() > failed_before

            await eventually(relay_failed, timeout=60)
            assert service.outbox.relay.queue  # still held, waiting for Kafka
        finally:
            os.kill(pid, signal.SIGCONT)

        # submit: one review transition (revision 2); publish: a transition and the publication (revision 3)
        expected = {f"{rid}~{rev_}~{i}" for rid in rids for rev_, i in ((2, 0), (3, 0), (3, 1))}

        async def all_published() -> bool:
            return set(await event_ids(kafka_bootstrap, starts, rids)) == expected

        await eventually(all_published, timeout=180, every=1)
        await eventually(lambda: _empty(service.outbox.relay.queue), timeout=60)
    finally:
        await stop(replica)


def relay_failures() -> float:
    return REGISTRY.get_sample_value("outbox_relay_errors_total", {"service": "catalog", "reason": "publish"}) or 0.0


async def _empty(queue) -> bool:
    return not queue
