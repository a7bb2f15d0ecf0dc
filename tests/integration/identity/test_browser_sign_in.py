"""The platform's own pages sign users in from the browser (the statistics dashboard): identity answers CORS for
the origins in IDENTITY_BROWSER_ORIGINS only, and counts every login by outcome (identity_logins_total)."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from tests.integration.identity.conftest import running_identity

pytestmark = pytest.mark.integration
DASHBOARD = "http://dashboard.test:8103"
PREFLIGHT = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}


async def test_only_the_listed_origins_may_sign_in_from_a_browser(mongodb_url, identity) -> None:
    async with running_identity(mongodb_url, browser_origins=[DASHBOARD]) as listed:
        _, phone = await listed.register("teacher")
        ok = await listed.client.options("/v1/sessions", headers={"Origin": DASHBOARD, **PREFLIGHT})
        assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == DASHBOARD
        assert "access-control-allow-credentials" not in ok.headers  # tokens in bodies, never cookies
        login = {"identifier": phone, "password": "Correct-Horse-9"}
        r = await listed.client.post("/v1/sessions", json=login, headers={"Origin": DASHBOARD})
        assert r.status_code == 200 and r.headers["access-control-allow-origin"] == DASHBOARD
        other = await listed.client.options("/v1/sessions", headers={"Origin": "https://elsewhere.test", **PREFLIGHT})
        assert "access-control-allow-origin" not in other.headers
        r = await listed.client.post("/v1/sessions", json=login, headers={"Origin": "https://elsewhere.test"})
        assert "access-control-allow-origin" not in r.headers  # the browser withholds the answer from that page
    # by default no page of another origin may call identity
    r = await identity.client.options("/v1/sessions", headers={"Origin": DASHBOARD, **PREFLIGHT})
    assert "access-control-allow-origin" not in r.headers


def logins(outcome: str) -> float:
    return REGISTRY.get_sample_value("identity_logins_total", {"outcome": outcome}) or 0.0


async def test_logins_are_counted_by_outcome(identity) -> None:
    _, phone = await identity.register("teacher")
    before = {o: logins(o) for o in ("success", "failure", "locked")}
    await identity.login(phone)
    for _ in range(3):  # the account's failure limit in these tests
        r = await identity.client.post("/v1/sessions", json={"identifier": phone, "password": "Nope-1234"})
        assert r.status_code == 401
    r = await identity.client.post("/v1/sessions", json={"identifier": phone, "password": "Correct-Horse-9"})
    assert r.status_code == 429
    assert {o: logins(o) - before[o] for o in before} == {"success": 1, "failure": 3, "locked": 1}
