"""Subscriber systems end to end on real Kafka and FerretDB: a province's platform (湖南, 43) and a research system
are registered through identity's API, the feed router routes platform events into their feeds, each reads its own
feed with its own SCRAM login (and is refused elsewhere), over HTTP too, and replays a window."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.errors import GroupAuthorizationFailedError, KafkaError, TopicAuthorizationFailedError

from common.contracts import catalog, classgroups, viewstats
from common.messaging import kafka_client_options
from tests.integration.common.helpers import eventually
from tests.integration.identity.conftest import running_identity
from tests.integration.identity.feeds import (
    HUNAN_SCHOOL,
    caught_up,
    class_events,
    credited,
    kafka_secured_here,
    local,
    login_of,
    publish,
    read_feed,
    running_router,
)

pytestmark = pytest.mark.integration

HUNAN_TYPES = [
    catalog.ResourcePublished.TYPE,
    catalog.ResourceWithdrawn.TYPE,
    classgroups.ClassCreated.TYPE,
    classgroups.CheckinReviewed.TYPE,
    viewstats.LearningCredited.TYPE,
]


@pytest.fixture(scope="module")
async def world(mongodb_url):
    run = uuid.uuid4().hex[:8]
    async with running_identity(mongodb_url, run=run) as identity:
        minister, phone = await identity.register("teacher")
        await identity.make(minister, "ministry_admin")
        identity.admin = await identity.bearer(phone)
        identity.run = run
        yield identity


async def register(identity, **body) -> dict:
    r = await identity.client.post("/v1/subscribers", json=body, headers=identity.admin)
    assert r.status_code == 201, r.text
    return r.json()


@pytest.fixture(scope="module")
async def subscribers(world):
    hunan = await register(
        world, name="湖南省智慧教育平台", kind="province", event_types=HUNAN_TYPES, provinces=["43"], pseudonymise=False
    )
    research = await register(
        world,
        name="教育科学研究院",
        kind="research",
        event_types=[viewstats.LearningCredited.TYPE, classgroups.CheckinReviewed.TYPE],
    )
    return hunan, research


@pytest.fixture(scope="module")
async def routed(world, subscribers):
    """Platform events of 湖南 and of 北京, routed by the feed router into both feeds."""
    hunan_teacher, _ = await world.register("teacher")
    await world.service.store.accounts.update(hunan_teacher, fields={"school": HUNAN_SCHOOL})
    beijing_teacher, _ = await world.register("teacher")
    await world.service.store.accounts.update(beijing_teacher, fields={"school": "cn/11/1101/110101/school-x"})
    student, _ = await world.register("student")
    class_id = f"cls-{uuid.uuid4().hex[:8]}"
    national, hunan_local, beijing_local = local(None), local("43"), local("11")
    credits = [credited(hunan_teacher), credited(beijing_teacher)]
    events = [
        national,
        hunan_local,
        beijing_local,
        *class_events(class_id, student, hunan_teacher, n=2),
        *credits,
    ]
    ids = await publish(*events)
    async with running_router(world.run) as app:
        await eventually(lambda: caught_up(app), timeout=120)
    return {
        "ids": ids,
        "national": national.resource.id,
        "hunan_local": hunan_local.resource.id,
        "beijing_local": beijing_local.resource.id,
        "class_id": class_id,
        "student": student,
        "hunan_teacher": hunan_teacher,
        "beijing_teacher": beijing_teacher,
        "credited_resources": {c.resource_id for c in credits},
    }


def of_this_run(routed: dict, data: dict) -> bool:
    """A feed record routed from this module's events: on infrastructure kept between runs, a new feed also holds
    earlier runs' and other tests' platform events (the router's group starts at the earliest offsets)."""
    resource = (data.get("resource") or {}).get("id") or data.get("resource_id")
    return (
        resource in {routed["national"], routed["hunan_local"], *routed["credited_resources"]}
        or data.get("class_id") == routed["class_id"]
    )


async def test_a_province_gets_the_national_catalog_and_its_own_provinces_events_only(subscribers, routed):
    hunan, _ = subscribers
    feed = await read_feed(hunan["kafka"]["topic"], hunan["subscriber_id"], hunan["password"], at_least=6)
    resources = {f["data"]["resource"]["id"] for f in feed if f["headers"]["ce_type"] == catalog.ResourcePublished.TYPE}
    assert {routed["national"], routed["hunan_local"]} <= resources
    assert routed["beijing_local"] not in resources
    classes = [f for f in feed if f["data"].get("class_id") == routed["class_id"]]
    assert len(classes) == 3  # created + two reviews, all in 湖南
    credits = {f["data"]["user_id"] for f in feed if f["headers"]["ce_type"] == viewstats.LearningCredited.TYPE}
    assert routed["hunan_teacher"] in credits and routed["beijing_teacher"] not in credits
    for f in feed:  # CloudEvents binary mode, the subscriber's own ce_id (not ours)
        h = f["headers"]
        assert h["ce_specversion"] == "1.0" and h["content-type"] == "application/json"
        assert h["ce_source"] and h["ce_time"] and h["ce_id"] not in routed["ids"]
        assert "traceparent" not in h


async def test_a_research_system_gets_pseudonymous_learning_events(subscribers, routed):
    _, research = subscribers
    feed = await read_feed(research["kafka"]["topic"], research["subscriber_id"], research["password"], at_least=4)
    types = {f["headers"]["ce_type"] for f in feed}
    assert types <= {viewstats.LearningCredited.TYPE, classgroups.CheckinReviewed.TYPE}
    text = str(feed)
    for real in (routed["student"], routed["hunan_teacher"], routed["beijing_teacher"]):
        assert real not in text  # nowhere: not in bodies, composite ids, keys or subjects
    credits = [
        f for f in feed if f["headers"]["ce_type"] == viewstats.LearningCredited.TYPE and of_this_run(routed, f["data"])
    ]
    assert len(credits) == 2  # both teachers': a research system is not scoped to a province
    assert credits[0]["data"]["user_id"] != credits[1]["data"]["user_id"]
    for c in credits:
        assert c["data"]["user_id"].startswith("p_")
        assert c["data"]["credit_id"].startswith(c["data"]["user_id"] + ":")  # the same pseudonym inside
        assert c["key"].decode() == c["data"]["user_id"] == c["headers"]["ce_subject"]


async def read_in_group(subscriber: dict, topic: str, group: str) -> int:
    consumer = AIOKafkaConsumer(
        topic,
        **login_of(subscriber["subscriber_id"], subscriber["password"]),
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    try:
        await consumer.start()
        return sum(len(r) for r in (await consumer.getmany(timeout_ms=3000)).values())
    finally:
        await consumer.stop()


async def test_a_subscriber_is_refused_on_another_feed_and_on_platform_topics(subscribers, routed):
    if not kafka_secured_here():
        pytest.skip("needs the SASL broker deploy/local/infra.sh runs")
    hunan, research = subscribers
    own_group = hunan["kafka"]["group_prefix"] + "etl"
    assert await read_in_group(hunan, hunan["kafka"]["topic"], own_group) >= 6
    for topic in (research["kafka"]["topic"], "viewstats.learning.v1", "identity.users.v1"):
        with pytest.raises(TopicAuthorizationFailedError):
            await read_in_group(hunan, topic, own_group)
    with pytest.raises(GroupAuthorizationFailedError):  # its own feed, but in another subscriber's group
        await read_in_group(hunan, hunan["kafka"]["topic"], research["kafka"]["group_prefix"] + "etl")


async def test_the_http_feed_pages_the_same_records_with_a_cursor(world, subscribers, routed):
    hunan, research = subscribers
    sid = hunan["subscriber_id"]
    url = f"/v1/feeds/{sid}/changes"
    in_kafka = [
        f["headers"]["ce_id"] for f in await read_feed(hunan["kafka"]["topic"], sid, hunan["password"], at_least=6)
    ]
    kafka_ids = set(in_kafka)
    seen, cursor, caught_up = [], None, False
    # The feed also holds the earlier tests' (and runs') events of 湖南: the router's group starts at the earliest,
    # so its size grows with what ran before. Small pages first (cursors between them), then big ones to the end.
    for number in range(1000):
        limit = 7 if number < 30 else 1000
        r = await world.client.get(
            url, params={"limit": limit, **({"cursor": cursor} if cursor else {})}, auth=(sid, hunan["password"])
        )
        assert r.status_code == 200, r.text
        page = r.json()
        assert len(page["items"]) <= limit
        seen += [i["id"] for i in page["items"]]
        cursor = page["cursor"]
        if caught_up := page["caught_up"]:
            break
    assert caught_up, f"not caught up after {len(seen)} records"
    # the same records as Kafka, each once: a record the router sent twice (at least once, after a redelivery) is
    # twice in the topic with the same id, and the HTTP feed pages both, as Kafka readers see them
    assert set(seen) == kafka_ids and sorted(seen) == sorted(in_kafka)
    again = await world.client.get(url, params={"cursor": cursor}, auth=(sid, hunan["password"]))
    assert again.json()["items"] == [] and again.json()["caught_up"]
    # another subscriber's password, a wrong one, a user's token: 401
    for auth in ((sid, research["password"]), (sid, "x" * 43), (research["subscriber_id"], hunan["password"])):
        assert (await world.client.get(url, auth=auth)).status_code == 401
    assert (await world.client.get(url, headers=world.admin)).status_code == 401
    bad = await world.client.get(url, params={"cursor": "not-a-cursor"}, auth=(sid, hunan["password"]))
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "query.cursor"


async def test_a_replay_writes_the_window_again_with_the_same_ids_and_reports_progress(world, subscribers, routed):
    _, research = subscribers
    sid, password = research["subscriber_id"], research["password"]
    before = await read_feed(research["kafka"]["topic"], sid, password, at_least=4)
    now = datetime.now(UTC)
    body = {
        "since": (now - timedelta(hours=1)).isoformat(),
        "until": now.isoformat(),
        "event_types": [viewstats.LearningCredited.TYPE],
    }
    r = await world.client.post(f"/v1/feeds/{sid}/replays", json=body, auth=(sid, password))
    assert r.status_code == 202, r.text
    replay_id = r.json()["replay_id"]
    assert r.json()["state"] == "pending"
    async with running_router(world.run):

        async def done():
            s = await world.client.get(f"/v1/feeds/{sid}/replays/{replay_id}", auth=(sid, password))
            return s.json() if s.json()["state"] in ("done", "failed") else None

        state = await eventually(done, timeout=60)
    assert state["state"] == "done" and state["routed"] >= 2 and state["scanned"] >= state["routed"]
    after = await read_feed(research["kafka"]["topic"], sid, password, at_least=len(before) + state["routed"])

    def credits(feed):
        return Counter(
            f["headers"]["ce_id"]
            for f in feed
            if f["headers"]["ce_type"] == viewstats.LearningCredited.TYPE and f["headers"]["ce_time"] >= body["since"]
        )

    replayed = credits(after) - credits(before)
    assert set(credits(before)) <= set(replayed)  # the same ids again: the subscriber drops the repeats


async def test_replays_are_bounded(world, subscribers):
    _, research = subscribers
    sid, password = research["subscriber_id"], research["password"]
    now = datetime.now(UTC)
    cases = {
        "body.since": {"since": (now - timedelta(days=30)).isoformat(), "until": now.isoformat()},
        "body.until": {"since": now.isoformat(), "until": (now + timedelta(hours=1)).isoformat()},
        "body.event_types": {
            "since": (now - timedelta(hours=1)).isoformat(),
            "until": now.isoformat(),
            "event_types": [catalog.ResourcePublished.TYPE],
        },
        "body.max_records": {
            "since": (now - timedelta(hours=1)).isoformat(),
            "until": now.isoformat(),
            "max_records": 10**9,
        },
    }
    for field, body in cases.items():
        r = await world.client.post(f"/v1/feeds/{sid}/replays", json=body, auth=(sid, password))
        assert r.status_code == 422, (field, r.text)
        assert r.json()["errors"][0]["field"] == field


async def test_registration_refuses_what_is_not_offered(world):
    cases = {
        "body.event_types": {"event_types": ["cn.smartedu.identity.notification.requested.v1"]},
        "body.provinces": {"event_types": HUNAN_TYPES, "provinces": ["99"]},
    }
    for field, extra in cases.items():
        body = {"name": "某系统", "kind": "system", **extra}
        r = await world.client.post("/v1/subscribers", json=body, headers=world.admin)
        assert r.status_code == 422, r.text
        assert r.json()["errors"][0]["field"] == field
    listed = await world.client.get("/v1/subscribers", headers=world.admin)
    assert all("password" not in s for s in listed.json())


async def test_a_deactivated_subscriber_can_no_longer_log_in(world):
    if not kafka_secured_here():
        pytest.skip("needs the SASL broker deploy/local/infra.sh runs")
    s = await register(world, name="停用测试", kind="system", event_types=[catalog.ResourcePublished.TYPE])
    r = await world.client.post(f"/v1/subscribers/{s['subscriber_id']}/deactivate", headers=world.admin)
    assert r.status_code == 204
    assert (await world.client.get(s["http_feed"], auth=(s["subscriber_id"], s["password"]))).status_code == 401
    consumer = AIOKafkaConsumer(**login_of(s["subscriber_id"], s["password"]), request_timeout_ms=5000)
    with pytest.raises(KafkaError):
        await consumer.start()
    await consumer.stop()


# --- kcat: an outside client nobody here wrote (Debian's kcat, librdkafka) ------------------------------------
def kcat(subscriber: dict, topic: str, tmp_path) -> subprocess.CompletedProcess:
    """The topic read from the beginning to its end as the subscriber, with its own SASL login (from a config file
    readable by this account only, never on the command line)."""
    options = kafka_client_options()
    config = tmp_path / f"{subscriber['subscriber_id']}.conf"
    config.touch(mode=0o600)
    config.write_text(
        f"bootstrap.servers={options['bootstrap_servers']}\n"
        f"security.protocol={options.get('security_protocol', 'PLAINTEXT')}\n"
        f"sasl.mechanism={options.get('sasl_mechanism', 'SCRAM-SHA-512')}\n"
        f"sasl.username={subscriber['subscriber_id']}\nsasl.password={subscriber['password']}\n"
    )
    return subprocess.run(
        ["kcat", "-F", str(config), "-C", "-t", topic, "-o", "beginning", "-e", "-J", "-q"],
        capture_output=True,
        text=True,
        timeout=60,
        env=os.environ | {"LD_LIBRARY_PATH": newer_librdkafka(tmp_path)},
    )


def newer_librdkafka(tmp_path) -> str:
    """A directory whose ``librdkafka.so.1`` is the one confluent-kafka's wheel ships (2.16). Debian's kcat links
    the system's librdkafka (2.0.2 in Debian 12), whose SCRAM client-final message repeats the nonce; Kafka 4 checks
    it strictly (RFC 5802) and refuses every SCRAM login of librdkafka < 2.6.1 (kcat issue #462, librdkafka #4895).
    kcat itself is unchanged: the same Debian binary, loading a fixed library."""
    import confluent_kafka

    bundled = sorted((Path(confluent_kafka.__file__).parent.parent / "confluent_kafka.libs").glob("librdkafka*.so*"))
    if not bundled:
        return os.environ.get("LD_LIBRARY_PATH", "")
    lib = tmp_path / "librdkafka"
    lib.mkdir(exist_ok=True)
    link = lib / "librdkafka.so.1"
    if not link.exists():
        link.symlink_to(bundled[0])
    return str(lib)


needs_kcat = pytest.mark.skipif(
    shutil.which("kcat") is None, reason="kcat is not installed (`make kcat` installs Debian's package)"
)


@needs_kcat
async def test_kcat_reads_its_own_feed_with_cloudevents_headers(subscribers, routed, tmp_path):
    hunan, _ = subscribers
    done = await asyncio.to_thread(kcat, hunan, hunan["kafka"]["topic"], tmp_path)
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    records = [r for r in records if of_this_run(routed, json.loads(r["payload"]))]
    assert len(records) == 6  # two resources, the class created and reviewed twice, the 湖南 teacher's credit
    kafka = await read_feed(hunan["kafka"]["topic"], hunan["subscriber_id"], hunan["password"], at_least=6)
    ours = {f["headers"]["ce_id"] for f in kafka if of_this_run(routed, f["data"])}
    assert {r["headers"][r["headers"].index("ce_id") + 1] for r in records} == ours
    for r in records:
        h = dict(zip(r["headers"][::2], r["headers"][1::2], strict=True))
        assert h["ce_specversion"] == "1.0" and h["content-type"] == "application/json"
        assert h["ce_type"] in HUNAN_TYPES and h["ce_source"].startswith("/") and h["ce_time"].endswith("Z")
        assert json.loads(r["payload"])  # the event's JSON
        if h.get("ce_subject"):
            assert r["key"] == h["ce_subject"]


@needs_kcat
async def test_kcat_is_refused_on_another_feed_and_on_a_platform_topic(subscribers, routed, tmp_path):
    if not kafka_secured_here():
        pytest.skip("needs the SASL broker deploy/local/infra.sh runs")
    hunan, research = subscribers
    for topic in (research["kafka"]["topic"], "viewstats.learning.v1"):
        done = await asyncio.to_thread(kcat, hunan, topic, tmp_path)
        assert done.returncode != 0 and "authoriz" in done.stderr.lower(), (topic, done.stderr)
        assert not [line for line in done.stdout.splitlines() if line.startswith("{")]
