"""How soon a finish shows in recommendations: a heartbeat that completes a resource is published to
viewstats.heartbeats.v1 (as the collector does), and the student's recommendations are polled every 20 ms until
the resource has left them. The recommender runs in-process on the real Kafka and store.

    eval "$(SMARTEDU_STATE=... deploy/local/infra.sh env admin)"   # the admin login, as deploy/local/test.sh does
    KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:<port> MONGODB_URL=mongodb://127.0.0.1:<port> \\
    PYTHONPATH=libs:services:. .cache/pyenv/bin/python bench/recommender/bench_freshness.py [--trials 30]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime

import httpx
from aiokafka import AIOKafkaProducer
from asgi_lifespan import LifespanManager

from bench.recommender.replay import published_events
from bench.recommender.synthetic import Params, generate
from common.auth import install_verifier
from common.contracts.base import Event
from common.contracts.viewstats import HeartbeatRecorded, ViewRecorded
from common.messaging import encode, kafka_client_options
from recommender.app import create_app
from recommender.settings import RecommenderSettings
from tests.integration.recommender.conftest import Tokens


async def main(trials: int) -> int:
    run = uuid.uuid4().hex[:6]
    world = generate(Params(students=1, versions=1, lessons=max(8, trials + 2), units=2), seed=3)
    version = f"tv.bench{run}.primary.math"
    published = published_events(world, prefix=f"{run}-", version=version)
    tokens = Tokens()
    app = create_app(
        RecommenderSettings(
            log_level="WARNING", mongodb_database_prefix=f"bench_{run}_", kafka_client_prefix=f"bench-{run}-"
        )
    )
    install_verifier(app, tokens.verifier())
    producer = AIOKafkaProducer(**kafka_client_options(), enable_idempotence=True)
    await producer.start()

    async def send(*events: Event) -> None:
        for ev in events:
            body, headers = encode(ev, "/bench")
            await producer.send_and_wait(
                ev.TOPIC, body, key=ev.key().encode(), headers=[(k, v.encode()) for k, v in headers.items()]
            )

    await send(*published)
    student = f"s-{run}"
    headers = tokens.headers(student, "student@cn/43")
    async with LifespanManager(app, startup_timeout=120, shutdown_timeout=60) as m:
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=m.app), base_url="http://rec")
        await client.put("/v1/me/profile", json={"grade": 5, "textbook_versions": [version]}, headers=headers)
        want = {e.resource.id for e in published}
        while not want <= set(app.state.pool.resources):  # noqa: ASYNC110 - a consumer task fills the pool
            await asyncio.sleep(0.1)
        delays = []
        for _ in range(trials):
            first = (await client.get("/v1/me/recommendations", headers=headers)).json()["items"][0]["resource_id"]
            now = datetime.now(UTC)
            beat = HeartbeatRecorded(user_id=student, resource_id=first, seconds=300, at=now)
            seen = ViewRecorded(
                resource_id=first,
                section="course_teaching",
                visitor_id=student,
                province="43",
                country="CN",
                client="web",
                viewed_at=now,
            )
            t0 = time.perf_counter()
            # a view finishes a document or courseware, 600 s of heartbeats a 10-minute video
            await send(seen, beat, beat.model_copy(update={"seconds": 300}))
            while True:
                items = (await client.get("/v1/me/recommendations", headers=headers)).json()["items"]
                if first not in [i["resource_id"] for i in items]:
                    break
                await asyncio.sleep(0.02)
            delays.append(time.perf_counter() - t0)
        await client.aclose()
    await producer.stop()
    delays.sort()
    print(
        f"finish → gone from recommendations, {trials} trials: median {statistics.median(delays) * 1000:.0f} ms, "
        f"p95 {delays[int(0.95 * (len(delays) - 1))] * 1000:.0f} ms, max {delays[-1] * 1000:.0f} ms"
    )
    return 0 if delays[-1] < 5 else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=30)
    sys.exit(asyncio.run(main(parser.parse_args().trials)))
