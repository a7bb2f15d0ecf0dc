"""The chassis's garbage-collector settings while a service runs (``common.service.YOUNG_GC_THRESHOLD``)."""

from __future__ import annotations

import gc

import httpx
import pytest
from asgi_lifespan import LifespanManager

from common.service import YOUNG_GC_THRESHOLD
from recommender.app import create_app
from recommender.settings import RecommenderSettings

pytestmark = pytest.mark.integration


async def test_a_started_service_collects_young_garbage_less_often_and_restores_the_threshold_at_stop(
    run_id, kafka_bootstrap, mongodb_url
) -> None:
    before = gc.get_threshold()
    assert before[0] < YOUNG_GC_THRESHOLD, "a kit of an earlier test kept the raised threshold after it stopped"
    settings = RecommenderSettings(
        kafka_bootstrap_servers=kafka_bootstrap,
        mongodb_url=mongodb_url,
        kafka_client_prefix=f"test-{run_id}-gc-",
        mongodb_database_prefix=f"test_{run_id}_gc_",
    )
    app = create_app(settings)
    async with (
        LifespanManager(app, startup_timeout=60, shutdown_timeout=60),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://recommender") as client,
    ):
        assert gc.get_threshold() == (YOUNG_GC_THRESHOLD, *before[1:])
        # requests are served, and cyclic garbage made meanwhile is still collected, by the raised threshold
        assert (await client.get("/healthz")).status_code == 200
        collected = gc.get_stats()[0]["collections"]
        for _ in range(YOUNG_GC_THRESHOLD * 3 // 2):
            cycle: list[object] = []
            cycle.append(cycle)
            del cycle
        assert gc.get_stats()[0]["collections"] > collected
    assert gc.get_threshold() == before
