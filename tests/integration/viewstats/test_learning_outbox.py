"""The learning ledger's LearningCredited event survives a process that could not publish it: the certificate
is stored with its event, and the next process's outbox relay publishes it, once."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from aiokafka.errors import KafkaConnectionError
from asgi_lifespan import LifespanManager

from common.auth import install_verifier
from common.contracts.viewstats import HeartbeatRecorded, LearningCredited
from tests.integration.common.helpers import eventually
from tests.integration.viewstats.conftest import end_offsets, records_since
from tests.integration.viewstats.test_learning import KEY, LEARNING, course_event, settings_for
from viewstats.app import create_app as create_viewstats
from viewstats.domain.learning import certificate_id

pytestmark = pytest.mark.integration


class KafkaUnreachable:
    """The relay's publisher in a process that dies before Kafka acknowledges anything it relays."""

    def __init__(self) -> None:
        self.attempts = 0

    async def publish_many(self, events, *, event_ids=None) -> None:
        self.attempts += 1
        raise KafkaConnectionError("unreachable (test)")


async def test_a_credit_whose_event_was_never_published_is_published_once_by_the_next_process(scratch, tokens):
    tag, bootstrap = scratch["tag"], scratch["bootstrap"]
    course, teacher = f"course-{tag}", f"teacher-{tag}"
    settings = settings_for(scratch).model_copy(update={"outbox_sweep_seconds": 1.0, "outbox_sweep_min_age_seconds": 0})
    learning_starts = await end_offsets(bootstrap, LEARNING)
    number = certificate_id(KEY, teacher, course)

    first = create_viewstats(settings)
    install_verifier(first, tokens.verifier())
    unreachable = KafkaUnreachable()
    first.state.kit.outbox.relay.publisher = unreachable
    async with LifespanManager(first):
        s = httpx.AsyncClient(transport=httpx.ASGITransport(app=first), base_url="http://stats")
        kit = first.state.kit
        await kit.publisher.publish_many([course_event(course, 0.5)])

        async def known() -> bool:
            return (await s.get(f"/v1/learning/courses/{course}")).status_code == 200

        await eventually(known, timeout=90)
        start = datetime.now(UTC) - timedelta(seconds=1800)  # credited only as fast as the collector's clock ran
        beats = [
            HeartbeatRecorded(user_id=teacher, resource_id=course, seconds=300, at=start + timedelta(seconds=300 * i))
            for i in range(7)
        ]
        await kit.publisher.publish_many(beats, event_ids=[str(uuid.uuid4()) for _ in beats])

        async def credited() -> bool:
            r = await s.get(f"/v1/learning/me/courses/{course}", headers=tokens.headers(teacher))
            return r.json()["credited"] and unreachable.attempts > 0

        await eventually(credited, timeout=90)  # the credit is stored while its event cannot go out
    assert [r for r in await records_since(bootstrap, learning_starts) if r.key == teacher] == []

    second = create_viewstats(settings)  # the next process, with Kafka reachable
    async with LifespanManager(second):

        async def published() -> list:
            return [r for r in await records_since(bootstrap, learning_starts) if r.key == teacher]

        mine = await eventually(published, timeout=60, every=0.5)
    assert [(r.id, type(r.event)) for r in mine] == [(number, LearningCredited)]
    assert (mine[0].event.user_id, mine[0].event.resource_id, mine[0].event.hours) == (teacher, course, 0.5)
