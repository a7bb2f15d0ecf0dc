"""Learning events reach a real Learning Record Store (Ralph, the LRS `make test` starts) as xAPI 1.0.3 statements,
read back through the LRS's own API (GET /xAPI/statements), at least once and never twice: the exporter backs off
while the LRS is down, commits its offsets only after the LRS accepted, and the statement ids (UUIDv5 of the
source events' ids) make a retry a no-op (issue 17)."""

from __future__ import annotations

import json
import os
import uuid
from datetime import UTC, date, datetime

import httpx
import pytest
from asgi_lifespan import LifespanManager

from common.contracts.classgroups import CheckinSubmitted
from common.contracts.recommender import AnswerGraded, MasteryChanged
from common.contracts.viewstats import HeartbeatRecorded, LearningCredited
from common.messaging import DependencyUnavailable
from common.service import ServiceKit
from common.settings import ServiceSettings
from tests.contracts.tools import ralph
from tests.integration.common.helpers import eventually
from xapi.app import create_app
from xapi.domain.statements import Mapping, statement, statement_id
from xapi.lrs import LearningRecordStore, StatementsRefused
from xapi.settings import XapiSettings

pytestmark = [
    pytest.mark.integration,
    pytest.mark.timeout(600),
    pytest.mark.skipif(not os.environ.get("XAPI_LRS_URL"), reason="needs the LRS deploy/local/test.sh starts"),
]

AT = datetime(2026, 12, 2, 8, 30, tzinfo=UTC)


def settings(run_id: str, tag: str, **overrides) -> XapiSettings:
    return XapiSettings(
        kafka_client_prefix=f"test-{tag}-",
        mongodb_database_prefix=f"test_{run_id}_",
        consumer_backoff_seconds=0.1,
        # one key, as in a deployment: the topics' history (other tests' events) maps to the statements already in
        # the LRS; another key would make every one of them a differing statement under the same id (409)
        pseudonym_key="test-pseudonym-key",
        **overrides,
    )


@pytest.fixture
def tag() -> str:
    return uuid.uuid4().hex[:8]


@pytest.fixture
async def lrs():
    """Ralph's own API, with the exporter's credentials."""
    s = XapiSettings()
    async with httpx.AsyncClient(
        base_url=s.lrs_url,
        auth=(s.lrs_username, s.lrs_password.get_secret_value()),
        headers={"X-Experience-API-Version": "1.0.3"},
        timeout=30,
    ) as client:
        yield client


@pytest.fixture
async def publishers():
    """The publishing services' side of the wire, each a ServiceKit under its own name (its CloudEvents source)."""
    kits = {name: ServiceKit(name, ServiceSettings()) for name in ("viewstats", "recommender", "classgroups")}
    for kit in kits.values():
        await kit.broker.connect()
    yield {name: kit.publisher for name, kit in kits.items()}
    for kit in kits.values():
        await kit.broker.stop()


async def running(app):
    manager = LifespanManager(app, startup_timeout=180, shutdown_timeout=60)
    await manager.__aenter__()
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://xapi")

    async def ready() -> bool:
        return (await client.get("/readyz")).status_code == 200

    await eventually(ready, timeout=180)
    return manager, client


async def stop(manager, client) -> None:
    await client.aclose()
    await manager.__aexit__(None, None, None)


async def stored(lrs: httpx.AsyncClient, statement_ids: list[str]) -> dict[str, dict]:
    out = {}
    for sid in statement_ids:
        r = await lrs.get("statements", params={"statementId": sid})
        assert r.status_code in (200, 404), r.text
        body = r.json() if r.status_code == 200 else {}
        # xAPI answers a statementId with the statement; Ralph 5.1 (mongo) with a StatementResult of it, or of none
        for st in body.get("statements", [body]):
            if st.get("id") == sid:
                out[sid] = st
    return out


async def of_agent(lrs: httpx.AsyncClient, actor: dict) -> list[dict]:
    r = await lrs.get("statements", params={"agent": json.dumps(actor), "limit": 500})
    assert r.status_code == 200, r.text
    return r.json()["statements"]


async def test_learning_events_become_statements_read_back_from_the_lrs(run_id, tag, lrs, publishers) -> None:
    s = settings(run_id, tag)
    mapping = Mapping(s.platform_iri, s.pseudonym_key.get_secret_value().encode())
    teacher, student, resource, exercise = f"u-t-{tag}", f"u-s-{tag}", f"res-{tag}", f"ex-{tag}"
    events = {
        "heartbeat": ("viewstats", HeartbeatRecorded(user_id=teacher, resource_id=resource, seconds=60, at=AT)),
        "credited": (
            "viewstats",
            LearningCredited(
                credit_id=f"{teacher}:{resource}",
                user_id=teacher,
                resource_id=resource,
                hours=1.5,
                year=2026,
                certificate_id=f"cert-{tag}",
                credited_at=AT,
            ),
        ),
        "answer": (
            "recommender",
            AnswerGraded(
                answer_id=f"{student}:sub-1:{exercise}",
                student_id=student,
                exercise_id=exercise,
                exercise_version=2,
                subject_code="math",
                knowledge_points=["kp-fractions"],
                correct=False,
                graded_at=AT,
            ),
        ),
        "checkin": (
            "classgroups",
            CheckinSubmitted(
                submission_id=f"sub-{tag}",
                task_id=f"task-{tag}",
                class_id=f"class-{tag}",
                student_id=student,
                submitted_by=f"u-parent-{tag}",
                day=date(2026, 12, 2),
                version=1,
                timeliness="on_time",
                media=[],
                submitted_at=AT,
            ),
        ),
    }
    ids = {name: str(uuid.uuid4()) for name in events}
    manager, client = await running(create_app(s))
    try:
        for name, (publisher, event) in events.items():
            await publishers[publisher].publish(event, event_id=ids[name])
        not_learning = MasteryChanged(
            student_id=student, knowledge_point="kp", before=0.2, after=0.3, answer_id="a", changed_at=AT
        )
        await publishers["recommender"].publish(not_learning)
        expected = {name: statement(event, ids[name], mapping)["id"] for name, (_, event) in events.items()}

        async def all_stored():
            return len(await stored(lrs, list(expected.values()))) == len(expected) or None

        await eventually(all_stored, timeout=120, every=0.5)
    finally:
        await stop(manager, client)
    got = {name: (await stored(lrs, [sid]))[sid] for name, sid in expected.items()}
    iri = s.platform_iri

    for name, st in got.items():
        assert st["id"] == expected[name]
        assert st["actor"]["account"]["homePage"] == iri
        text = json.dumps(st, ensure_ascii=False)
        for account in (teacher, student, f"u-parent-{tag}"):  # pseudonymous: no platform account id anywhere
            assert account not in text
        assert st["timestamp"].startswith("2026-12-02T08:30:00")

    hb = got["heartbeat"]
    assert hb["actor"]["account"]["name"] == mapping.pseudonym(teacher)
    assert hb["verb"]["id"] == "http://adlnet.gov/expapi/verbs/experienced"
    assert hb["object"]["id"] == f"{iri}/xapi/activities/resources/{resource}"
    assert hb["result"]["duration"] == "PT1M"

    credited = got["credited"]
    assert credited["verb"]["id"] == "http://adlnet.gov/expapi/verbs/completed"
    assert credited["object"]["definition"]["type"] == "http://adlnet.gov/expapi/activities/course"
    assert credited["result"]["completion"] is True and credited["result"]["duration"] == "PT1H30M"
    assert f"cert-{tag}" not in json.dumps(credited)  # a certificate number leads to a name

    answer = got["answer"]
    assert answer["actor"]["account"]["name"] == mapping.pseudonym(student)
    assert answer["verb"]["id"] == "http://adlnet.gov/expapi/verbs/answered"
    assert answer["object"]["id"] == f"{iri}/xapi/activities/exercises/{exercise}"
    assert answer["result"]["success"] is False
    assert answer["context"]["revision"] == "2"
    assert (
        answer["context"]["contextActivities"]["other"][0]["id"]
        == f"{iri}/xapi/activities/knowledge-points/kp-fractions"
    )

    checkin = got["checkin"]
    assert checkin["actor"]["account"]["name"] == mapping.pseudonym(student)  # the student, not the parent
    assert checkin["object"]["id"] == f"{iri}/xapi/activities/checkin-tasks/task-{tag}/days/2026-12-02"
    activities = checkin["context"]["contextActivities"]
    assert activities["grouping"][0]["id"] == f"{iri}/xapi/activities/classes/class-{tag}"
    assert activities["category"][0]["id"] == f"{iri}/xapi/activities/checkin-timeliness/on_time"

    # the mastery estimate is not learning activity: no statement; the student has exactly the two above
    assert sorted(st["id"] for st in await of_agent(lrs, mapping.actor(student))) == sorted(
        [expected["answer"], expected["checkin"]]
    )


@pytest.fixture
def ralph_back_afterwards():
    """Whatever happens in the test, Ralph runs again after it (the next tests need it)."""
    yield
    if "running" not in ralph("status"):
        ralph("start")


async def test_an_lrs_down_mid_stream_loses_nothing_and_doubles_nothing(
    run_id, tag, lrs, publishers, ralph_back_afterwards
) -> None:
    """Ralph stops after the first statements; the exporter keeps trying (backoff) and is itself restarted while
    the LRS is down (its uncommitted batch is read again by the next one); Ralph comes back: every heartbeat is
    in the LRS exactly once."""
    s = settings(run_id, tag)
    mapping = Mapping(s.platform_iri, s.pseudonym_key.get_secret_value().encode())
    learner = f"u-{tag}"
    ids = [str(uuid.uuid4()) for _ in range(30)]

    def heartbeat(i: int) -> HeartbeatRecorded:
        return HeartbeatRecorded(user_id=learner, resource_id=f"res-{tag}-{i}", seconds=30, at=AT)

    manager, client = await running(create_app(s))
    try:
        for i in range(10):
            await publishers["viewstats"].publish(heartbeat(i), event_id=ids[i])

        async def first_ten():
            return len(await stored(lrs, [statement_id(e, mapping.actor(learner)) for e in ids[:10]])) == 10 or None

        await eventually(first_ten, timeout=120, every=0.5)
        ralph("stop")
        for i in range(10, 20):
            await publishers["viewstats"].publish(heartbeat(i), event_id=ids[i])
        await eventually(lambda: _retrying(client), timeout=60, every=0.5)
    finally:
        await stop(manager, client)  # stopped while its batch waits for the LRS: that batch is not committed
    manager, client = await running(create_app(s))  # the same consumer groups: it resumes at the last commit
    try:
        for i in range(20, 30):
            # a producer's retry: the same event twice on the topic
            await publishers["viewstats"].publish(heartbeat(i), event_id=ids[i])
            await publishers["viewstats"].publish(heartbeat(i), event_id=ids[i])
        ralph("start")

        async def all_thirty():
            return len(await of_agent(lrs, mapping.actor(learner))) >= 30 or None

        await eventually(all_thirty, timeout=180, every=1)
    finally:
        await stop(manager, client)
    statements = await of_agent(lrs, mapping.actor(learner))
    assert sorted(st["id"] for st in statements) == sorted(
        statement_id(e, mapping.actor(learner)) for e in ids
    )  # each once


async def _retrying(client: httpx.AsyncClient) -> bool | None:
    """The exporter's metrics show it waiting for the LRS (a failure counted as an outage, not a dead letter)."""
    text = (await client.get("/metrics")).text
    return (
        any(
            line.startswith("kafka_messages_failed_total")
            and 'reason="unavailable"' in line
            and "xapi-heartbeats" in line
            for line in text.splitlines()
        )
        or None
    )


async def test_a_setting_points_the_exporter_at_any_lrs(run_id, tag, lrs) -> None:
    """XAPI_LRS_URL/USERNAME/PASSWORD: nothing in the exporter knows it is Ralph; wrong credentials are an outage
    (retried, never dead-lettered), not the records' fault."""
    for overrides, error, reason in [
        ({}, StatementsRefused, r"4[02][02]"),  # not a statement: the record's fault, dead-lettered
        ({"lrs_password": "not-the-password"}, DependencyUnavailable, r"401|403"),
        ({"lrs_url": "http://127.0.0.1:9/xAPI/"}, DependencyUnavailable, "unreachable"),
    ]:
        store = LearningRecordStore(settings(run_id, tag, **overrides))
        try:
            with pytest.raises(error, match=reason):
                await store.store([{"id": str(uuid.uuid4())}])
        finally:
            await store.close()
