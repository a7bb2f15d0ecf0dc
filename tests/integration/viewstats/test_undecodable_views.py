"""The aggregator's hot path parks every record it cannot decode, whatever its bytes, and counts on (real Kafka and
FerretDB). Before, a CloudEvents header that was not UTF-8 raised outside the malformed-beacon path: the aggregator's
loop stopped and no view was counted again."""

import time
import uuid

import httpx
import pytest
from asgi_lifespan import LifespanManager

from tests.integration.common.helpers import eventually
from tests.integration.viewstats.conftest import caught_up, end_offsets, records_since
from tests.integration.viewstats.conftest import settings_for as scratch_settings
from viewstats.app import create_app as create_viewstats
from viewstats.domain.beacon import parse_beacon
from viewstats.wire import view_record

pytestmark = pytest.mark.integration
DLQ = "viewstats-aggregator.dlq"


async def test_views_with_undecodable_headers_or_bodies_are_dead_lettered_and_counting_goes_on(scratch):
    bootstrap, topic, producer = scratch["bootstrap"], scratch["topic"], scratch["producer"]
    resource, now = f"res-{scratch['tag']}", int(time.time() * 1000)

    def view() -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
        beacon = {"event_id": str(uuid.uuid4()), "resource_id": resource, "section": "course_teaching", "time": now}
        return view_record(parse_beacon(beacon | {"user_id": "u1", "province": "43"}, now))

    key, value, headers = view()
    bad = [
        (value, [(k, b"\xff\xfe" if k == "ce_id" else v) for k, v in headers]),
        (value, [(k, b"\xc3\x28" if k == "ce_type" else v) for k, v in headers]),
        (b"\xff not json", headers),
    ]
    placed = set()
    dlq_starts = await end_offsets(bootstrap, DLQ)
    for body, h in bad:  # one key, so one partition: the good views below wait behind these unless they are parked
        sent = await producer.send_and_wait(topic, body, key=key, headers=h)
        placed.add((sent.partition, sent.offset))
    for _ in range(3):
        _, v, h = view()
        await producer.send_and_wait(topic, v, key=key, headers=h)

    app = create_viewstats(scratch_settings(scratch, flush_interval_seconds=0.2, run_learning=False))
    async with LifespanManager(app):
        s = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://stats")
        await eventually(lambda: caught_up(bootstrap, scratch["group"], topic), timeout=90)
        assert (await s.get("/v1/stats/totals")).json()["all_time"] == 3

    letters = [r for r in await records_since(bootstrap, dlq_starts, decoded=False) if r.key == key]
    errors = {
        (int(h["dlq_source_partition"]), int(h["dlq_source_offset"])): h["dlq_error"] for h in map(_text, letters)
    }
    assert set(errors) == placed
    assert all(e.startswith("malformed view beacon") for e in errors.values()), errors
    assert [r.value for r in letters] == [b for b, _ in bad]


def _text(record) -> dict[str, str]:
    return {k: v.decode("utf-8", "replace") for k, v in record.headers}
