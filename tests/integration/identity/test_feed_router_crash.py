"""The feed router killed mid-batch loses nothing: the batch was not committed, the next process routes it again,
and every repeat the subscriber sees carries the ce_id (and body) of the first copy."""

from __future__ import annotations

import uuid

import pytest

from common.contracts import classgroups
from identity.feeds.router import Router
from tests.conftest import free_port
from tests.integration.common.helpers import eventually
from tests.integration.identity.conftest import running_identity
from tests.integration.identity.feeds import (
    HUNAN_SCHOOL,
    caught_up,
    class_events,
    publish,
    read_feed,
    running_router,
)

pytestmark = pytest.mark.integration


async def _province_and_class(identity) -> tuple[dict, str, str]:
    """湖南's platform registered, a teacher of a 湖南 school, a class id."""
    minister, phone = await identity.register("teacher")
    await identity.make(minister, "ministry_admin")
    body = {
        "name": "湖南省智慧教育平台",
        "kind": "province",
        "event_types": [classgroups.ClassCreated.TYPE, classgroups.CheckinReviewed.TYPE],
        "provinces": ["43"],
    }
    r = await identity.client.post("/v1/subscribers", json=body, headers=await identity.bearer(phone))
    assert r.status_code == 201, r.text
    teacher, _ = await identity.register("teacher")
    await identity.service.store.accounts.update(teacher, fields={"school": HUNAN_SCHOOL})
    return r.json(), teacher, f"cls-{uuid.uuid4().hex[:8]}"


async def test_a_router_killed_mid_batch_loses_nothing_and_repeats_with_the_same_ids(mongodb_url, service_process):
    run = uuid.uuid4().hex[:8]
    async with running_identity(mongodb_url, run=run) as identity:
        hunan, teacher, class_id = await _province_and_class(identity)
        # 40 reviews of one class: one key, one partition, read in one batch
        await publish(*class_events(class_id, f"u_{uuid.uuid4().hex}", teacher, n=40))

        env = {
            "MONGODB_DATABASE_PREFIX": f"test_identity_{run}_",
            "KAFKA_CLIENT_PREFIX": f"test-{run}-",
            "IDENTITY_FEEDS_REFRESH_SECONDS": "0.2",
            "FEEDS_CRASH_KEY": class_id,
        }
        crashing = service_process(
            "tests.integration.identity.crashing_router:create_app", free_port(), "identity-feeds", **env
        )
        crashing.start(wait_ready=False)
        assert crashing.proc.wait(timeout=120) == -9  # it died where it should, by SIGKILL

        first = await read_feed(hunan["kafka"]["topic"], hunan["subscriber_id"], hunan["password"], at_least=1)
        ours = [f for f in first if f["data"].get("class_id") == class_id]
        assert 0 < len(ours) < 41  # part of the class's events got out before the kill

        router = service_process("identity.feeds.app:create_app", free_port(), **env)
        router.start(timeout=120)

        async def all_routed() -> list[dict] | None:
            feed = await read_feed(hunan["kafka"]["topic"], hunan["subscriber_id"], hunan["password"], at_least=1)
            mine = [f for f in feed if f["data"].get("class_id") == class_id]
            return mine if len({f["headers"]["ce_id"] for f in mine}) >= 41 else None

        ours = await eventually(all_routed, timeout=120, every=1.0)
        by_id: dict[str, list[dict]] = {}
        for f in ours:
            by_id.setdefault(f["headers"]["ce_id"], []).append(f["data"])
        assert len(by_id) == 41  # ClassCreated + 40 reviews: nothing lost
        assert len(ours) > 41  # the uncommitted half was routed again ...
        assert all(all(d == copies[0] for d in copies) for copies in by_id.values())  # ... as the same events


class _FailsOnce(Router):
    """Raises (a bug, not an outage) the first time it routes the class's records."""

    failed = False

    async def route(self, records) -> None:  # type: ignore[no-untyped-def]
        if not _FailsOnce.failed and any(r.key == _FailsOnce.key for r in records):
            _FailsOnce.failed = True
            raise RuntimeError("a bug in routing")
        await super().route(records)


async def test_a_batch_whose_routing_failed_is_routed_again_not_skipped(mongodb_url):
    run = uuid.uuid4().hex[:8]
    async with running_identity(mongodb_url, run=run) as identity:
        hunan, teacher, class_id = await _province_and_class(identity)
        _FailsOnce.key, _FailsOnce.failed = class_id.encode(), False
        await publish(*class_events(class_id, f"u_{uuid.uuid4().hex}", teacher, n=5))
        async with running_router(run, router_type=_FailsOnce) as app:
            await eventually(lambda: caught_up(app), timeout=120)
        assert _FailsOnce.failed
        feed = await read_feed(hunan["kafka"]["topic"], hunan["subscriber_id"], hunan["password"], at_least=6)
        assert len({f["headers"]["ce_id"] for f in feed if f["data"].get("class_id") == class_id}) == 6
