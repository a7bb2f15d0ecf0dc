"""The catalog and the recommender in-process on the real Kafka and store, identity's tokens signed here (with
the account ``kind`` claim identity issues), and a textbook lesson imported into the catalog for exercises."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest
from aiokafka import AIOKafkaProducer
from asgi_lifespan import LifespanManager
from pymongo import AsyncMongoClient

from catalog.app import create_app as create_catalog
from catalog.settings import CatalogSettings
from common.auth import install_verifier
from common.contracts.base import Event
from common.messaging import encode, kafka_client_options
from recommender.app import create_app as create_recommender
from recommender.settings import RecommenderSettings
from tests.integration.common.helpers import eventually
from tests.integration.common.tokens import AUD, ISS, Tokens  # noqa: F401 (the tests import them from here)

SCHOOL = "cn/43/4301/430102/school-430102001"
OTHER_SCHOOL = "cn/44/4401/440106/school-440106001"


class Clock:
    """The recommender's clock, moved by tests to the times FSRS schedules reviews for."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance_to(self, at: datetime) -> None:
        self.now = max(self.now, at) + timedelta(seconds=1)


class Platform:
    def __init__(self, run: str, tokens: Tokens, catalog: httpx.AsyncClient, rec: httpx.AsyncClient, app) -> None:
        self.run, self.tokens, self.catalog, self.rec, self.app = run, tokens, catalog, rec, app
        self.version = f"tv.t{run}.primary.math"
        self.lessons = [f"{self.version}/g5b/u1/l{i}" for i in (1, 2, 3)]
        self.ministry = tokens.headers("u-ministry", "ministry_admin", kind="staff")
        self.reviewer = tokens.headers("u-reviewer", "catalog_reviewer@provider/pep", kind="teacher")

    def student(self, sub: str | None = None, school: str = SCHOOL) -> tuple[str, dict[str, str]]:
        sub = sub or f"s-{uuid.uuid4().hex[:10]}"
        return sub, self.tokens.headers(sub, f"student@{school}", kind="student")

    def teacher(self, school: str = SCHOOL) -> tuple[str, dict[str, str]]:
        sub = f"t-{uuid.uuid4().hex[:10]}"
        return sub, self.tokens.headers(sub, f"teacher@{school}", kind="teacher")

    async def exercise(self, kp: str, difficulty: int = 3, lesson: int = 0, **content: Any) -> str:
        body = {
            "external_id": f"{self.run}-{uuid.uuid4().hex[:8]}",
            "provider_id": "pep",
            "content": {
                "item_type": "single_choice",
                "stem": f"{kp}：下列哪个正确？",
                "choices": [{"key": "A", "text": "对"}, {"key": "B", "text": "错"}],
                "answer_key": ["A"],
                "explanation": "解析：A 正确。",
                "knowledge_points": [kp],
                "difficulty": difficulty,
                "lesson_id": self.lessons[lesson],
                **content,
            },
        }
        r = await self.catalog.post("/v1/exercises", json=body, headers=self.reviewer)
        assert r.status_code == 201, r.text
        return r.json()["id"]

    async def known(self, *eids: str) -> None:
        """Wait until the recommender holds these exercises (from catalog.exercises.v1)."""
        bank = self.app.state.bank

        async def check() -> bool:
            return all(bank.get(e) is not None for e in eids)

        await eventually(check, timeout=60)


@pytest.fixture(scope="module")
async def publish_as():
    """Publishes another service's events as it does (CloudEvents, keyed like the contracts say): the
    collector's views and heartbeats, class groups' classes and memberships."""
    producer = AIOKafkaProducer(**kafka_client_options(), enable_idempotence=True)
    await producer.start()

    async def send(source: str, *events: Event) -> None:
        for e in events:
            body, headers = encode(e, source)
            await producer.send_and_wait(
                e.TOPIC, body, key=e.key().encode(), headers=[(k, v.encode()) for k, v in headers.items()]
            )

    yield send
    await producer.stop()


def tree_lines(version: str, lessons: list[str]) -> bytes:
    base = {"stage": "primary", "subject": "math"}
    rows = [
        {
            "type": "node",
            "id": version,
            "node_type": "textbook_version",
            "title": "人教版 小学数学",
            "edition": "人教版",
            **base,
        },
        {
            "type": "node",
            "id": f"{version}/g5b",
            "node_type": "volume",
            "parent_id": version,
            "title": "五年级下册",
            "grade": 5,
            **base,
        },
        {
            "type": "node",
            "id": f"{version}/g5b/u1",
            "node_type": "unit",
            "parent_id": f"{version}/g5b",
            "title": "分数的加法和减法",
            "grade": 5,
            **base,
        },
    ]
    rows += [
        {
            "type": "node",
            "id": lesson,
            "node_type": "lesson",
            "parent_id": f"{version}/g5b/u1",
            "title": f"第{i}课时",
            "order": i,
            "grade": 5,
            **base,
        }
        for i, lesson in enumerate(lessons, start=1)
    ]
    return b"\n".join(orjson.dumps(r) for r in rows)


@pytest.fixture(scope="module")
async def platform(run_id, mongodb_url):
    run = f"{run_id}{uuid.uuid4().hex[:4]}"
    tokens = Tokens()
    catalog = create_catalog(
        CatalogSettings(
            mongodb_database_prefix=f"test_rec_{run}_",
            kafka_client_prefix=f"test-{run_id}-",
            replica_id=f"rec-{run}",
            search_heap_bytes=60_000_000,
        )
    )
    rec = create_recommender(
        RecommenderSettings(
            mongodb_database_prefix=f"test_rec_{run}_",
            kafka_client_prefix=f"test-{run_id}-",
            retrain_seconds=0.5,
            served_sample_rate=1.0,
        )
    )
    clock = Clock()
    rec.state.learning.clock = clock
    install_verifier(catalog, tokens.verifier())
    install_verifier(rec, tokens.verifier())
    async with (
        LifespanManager(catalog, startup_timeout=120, shutdown_timeout=60) as cm,
        LifespanManager(rec, startup_timeout=120, shutdown_timeout=60) as rm,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=cm.app), base_url="http://catalog") as c,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=rm.app), base_url="http://recommender") as r,
    ):
        p = Platform(run, tokens, c, r, rec)
        p.clock = clock
        imported = await c.post(
            "/v1/import",
            content=tree_lines(p.version, p.lessons),
            headers={**p.ministry, "Content-Type": "application/x-ndjson"},
        )
        assert imported.status_code == 200, imported.text
        yield p
    client = AsyncMongoClient(mongodb_url, timeoutMS=30_000)
    for db in ("catalog", "recommender"):
        await client.drop_database(f"test_rec_{run}_{db}")
    await client.close()


async def publish_resource(p: Platform, title: str, **content: Any) -> str:
    """A resource through the catalog's editorial workflow (create, submit, publish as the ministry admin)."""
    base: dict[str, Any] = {
        "kind": "video_lesson",
        "title": title,
        "summary": f"{title}：名师讲解。",
        "section": "course_teaching",
        "column": "synchronous_class",
        "stages": ["primary"],
        "grades": [5],
        "subjects": ["math"],
        "license": "CC-BY-NC-ND-4.0",
        "media": [{"url": f"https://r.smartedu.cn/{uuid.uuid4().hex}.mp4", "duration_seconds": 600}],
    }
    body = {"external_id": f"{p.run}-{uuid.uuid4().hex[:8]}", "provider_kind": "publisher", "provider_id": "pep"}
    r = await p.catalog.post("/v1/resources", json={**body, "content": {**base, **content}}, headers=p.ministry)
    assert r.status_code == 201, r.text
    rid = r.json()["id"]
    for action in ("submit", "publish"):
        r = await p.catalog.post(f"/v1/resources/{rid}/{action}", headers=p.ministry)
        assert r.status_code == 200, r.text
    return rid


def lesson_place(p: Platform, i: int, position: int = 0) -> dict[str, Any]:
    lesson = p.lessons[i]
    return {
        "textbook_version_id": p.version,
        "volume_id": f"{p.version}/g5b",
        "unit_id": f"{p.version}/g5b/u1",
        "lesson_id": lesson,
        "position": position,
    }
