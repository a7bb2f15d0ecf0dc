"""The recommender's app with a catalog-sized pool (88,000 resources from the synthetic model) and a week of views
loaded in memory before it serves, for ``bench_serving.py`` (uvicorn --factory bench.recommender.serving_app:create).
Tokens are verified against the public key the driver wrote to $BENCH_JWKS_FILE."""

from __future__ import annotations

import json
import os
import random
from datetime import UTC, datetime
from pathlib import Path

import httpx

from bench.recommender.replay import pool_of
from bench.recommender.synthetic import Params, generate
from common.auth import JwksCache, TokenVerifier, install_verifier
from recommender.app import create_app
from recommender.settings import RecommenderSettings

CATALOG = Params(students=0, versions=65, lessons=450, units=9, per_lesson=3)  # 87,750 resources


def create():
    app = create_app(RecommenderSettings())
    world = generate(CATALOG, seed=5)
    pool = pool_of(world)
    app.state.pool.resources, app.state.pool.versions = pool.resources, pool.versions
    app.state.pool.by_kp, app.state.pool.by_lesson = pool.by_kp, pool.by_lesson
    behaviour = app.state.behaviour.behaviour
    rng = random.Random(5)
    ids = sorted(pool.resources)
    now = datetime.now(UTC)
    for i in range(200_000):  # views of the demo week: 2,000 users, provinces 11..65
        behaviour.view(
            f"u{i % 2000}", ids[int(rng.paretovariate(1.2)) % len(ids)], f"{rng.randrange(11, 66)}", now, app.state.pool
        )
    jwks = json.loads(Path(os.environ["BENCH_JWKS_FILE"]).read_text())
    transport = httpx.MockTransport(lambda r: httpx.Response(200, json=jwks))
    install_verifier(
        app,
        TokenVerifier(
            JwksCache("http://id.bench/jwks.json", client=httpx.AsyncClient(transport=transport)),
            issuer=os.environ["AUTH_ISSUER"],
            audience=os.environ["AUTH_AUDIENCE"],
        ),
    )
    return app
