"""A new replica warms up from the store and the service's own topics, and is ready only once it has replayed
them up to the end offsets it captured at start: its first page already has what other replicas were told."""

from __future__ import annotations

import uuid

import httpx
import pytest
from asgi_lifespan import LifespanManager

from common.auth import install_verifier
from recommender.app import create_app as create_recommender
from recommender.settings import RecommenderSettings
from tests.integration.common.helpers import eventually

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


async def test_a_new_replica_is_ready_only_with_the_answers_and_profiles_others_hold(platform, run_id) -> None:
    kp = f"小数-{platform.run}"
    eid = await platform.exercise(kp)
    await platform.known(eid)
    _, headers = platform.student()
    body = {"grade": 5, "textbook_versions": [platform.version], "subjects": ["math"], "province": "43"}
    assert (await platform.rec.put("/v1/me/profile", json=body, headers=headers)).status_code == 200
    r = await platform.rec.post(
        "/v1/me/answers",
        json={"submission_id": uuid.uuid4().hex, "answers": [{"exercise_id": eid, "choices": ["B"]}]},
        headers=headers,
    )
    assert r.status_code == 200 and r.json()["results"][0]["correct"] is False
    outbox = platform.app.state.store.answers.database["outbox"]

    async def published() -> bool:  # the relay deleted the pointers: Kafka holds the profile and the answer
        return await outbox.count_documents({}) == 0

    await eventually(published, timeout=30)
    second = create_recommender(
        RecommenderSettings(
            mongodb_database_prefix=f"test_rec_{platform.run}_",
            kafka_client_prefix=f"test-{run_id}-",
            replica_id=f"second-{uuid.uuid4().hex[:6]}",
        )
    )
    install_verifier(second, platform.tokens.verifier())
    async with (
        LifespanManager(second, startup_timeout=120, shutdown_timeout=60) as sm,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=sm.app), base_url="http://second") as other,
    ):

        async def ready() -> bool:
            return (await other.get("/readyz")).status_code == 200

        await eventually(ready, timeout=60, every=0.1)
        state = (await other.get("/readyz")).json()["checks"]["replayed"]
        assert state and all(state.values()) and any("recommender-profiles" in g for g in state)
        # no waiting from here on: ready means replayed
        assert (await other.get("/v1/me/profile", headers=headers)).json() == {**body, "grades": []}
        book = (await other.get("/v1/me/notebook", headers=headers)).json()
        assert kp in [p["knowledge_point"] for s in book["subjects"] for p in s["knowledge_points"]]
        # and a profile set on the new replica reaches the first one through the topic
        changed = {**body, "grade": 6}
        assert (await other.put("/v1/me/profile", json=changed, headers=headers)).status_code == 200

        async def propagated() -> bool:
            return (await platform.rec.get("/v1/me/profile", headers=headers)).json()["grade"] == 6

        await eventually(propagated, timeout=30, every=0.2)
