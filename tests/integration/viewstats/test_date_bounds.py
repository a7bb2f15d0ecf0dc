"""Dates at the edges of the calendar (found by the adversarial suite's fuzzing: 500s). Statistics start with the
platform; a query about year 1 or 9999 is a 422 naming the field, never an overflow."""

import httpx
import pytest
from asgi_lifespan import LifespanManager

from common.auth import install_verifier
from tests.integration.viewstats.conftest import settings_for
from viewstats.app import create_app

pytestmark = pytest.mark.integration

EDGES = [
    ("/v1/stats/growth", {"start": "0001-01-01", "end": "0001-01-01"}, "query.start"),
    ("/v1/stats/totals", {"end": "0001-01-05"}, "query.end"),
    ("/v1/stats/totals", {"start": "9999-12-30", "end": "9999-12-31"}, "query.start"),
    ("/v1/stats/series", {"granularity": "d", "end": "0001-01-02T00:00:00"}, "query.end"),
    ("/v1/stats/series", {"granularity": "d", "start": "9999-12-31T00:00:00", "end": "9999-12-31T23:59:00"}, None),
    ("/v1/stats/series/section/course_teaching", {"granularity": "d", "end": "0001-01-02T00:00:00"}, "query.end"),
    ("/v1/stats/provinces", {"day": "0001-01-01"}, "query.day"),
    ("/v1/stats/uniques", {"day": "9999-12-31"}, "query.day"),
]


async def test_dates_outside_the_platforms_years_are_422_not_500(scratch, tokens):
    app = create_app(settings_for(scratch, run_aggregator=False, run_learning=False))
    install_verifier(app, tokens.verifier())
    admin = tokens.headers("u-admin", "ministry_admin")
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with (
        LifespanManager(app, startup_timeout=60),
        httpx.AsyncClient(transport=transport, base_url="http://s") as http,
    ):
        for path, params, field in EDGES:
            r = await http.get(path, params=params, headers=admin)
            assert r.status_code == 422, (path, params, r.status_code, r.text)
            assert r.headers["content-type"].startswith("application/problem+json")
            if field:
                assert field in [e["field"] for e in r.json()["errors"]], r.text
