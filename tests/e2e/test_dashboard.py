"""The public dashboard, end to end: identity, the viewstats API (with its aggregator) and the collector run as
processes against the real Kafka and FerretDB, views of today and yesterday go in through the collector, and
Debian's headless Chromium (driven over the DevTools protocol, tests/e2e/browser.py) renders /dashboard. An
administrator signs in on the page with identity's own login (a ministry admin made by identity's bootstrap step);
every figure of the rendered page must be the API's answer: the cards, the per-minute and per-hour charts, the top
list with the catalog's titles, the province chart. Screenshots are kept in test-output/dashboard*.png."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from html.parser import HTMLParser

import httpx
import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from pymongo import AsyncMongoClient

from common.messaging import kafka_client_options
from common.reference import PROVINCES as NAMES
from tests.conftest import ROOT, RUN_ID, free_port
from tests.e2e.browser import CHROMIUM, Browser
from tests.e2e.test_identity_catalog_recommender import PASSWORD, identity_with_admin
from tests.integration.common.helpers import eventually
from tests.integration.viewstats.conftest import caught_up
from viewstats.store import LearningStore

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed: run `make browser`"),
]
PROVINCES = ["11", "31", "43", "44", "51"]
DAY_MS = 86_400_000


class Dom(HTMLParser):
    """The elements of the rendered page that carry figures: by id, and the rows, bars and points of the charts."""

    def __init__(self) -> None:
        super().__init__()
        self.by_id: dict[str, dict[str, str]] = {}
        self.top: list[dict[str, str]] = []
        self.provinces: list[dict[str, str]] = []
        self.minutes: list[dict[str, str]] = []
        self.hours: list[dict[str, str]] = []
        self.province_names: list[str] = []
        self._in_province: bool = False
        self.body: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if "id" in a:
            self.by_id[a["id"]] = a
        if tag == "tr" and "data-resource" in a:
            self.top.append(a)
        if "data-province" in a:
            self.provinces.append(a)
            self._in_province = True
        if tag == "rect" and "data-t" in a:
            self.minutes.append(a)
        if tag == "circle" and "data-series" in a:
            self.hours.append(a)
        if tag == "body":
            self.body = a

    def handle_data(self, data: str) -> None:
        if self._in_province and data.strip():  # the first text of a province's row is its name
            self.province_names.append(data.strip())
            self._in_province = False


def beacons_of(now: int) -> list[dict]:
    """Today: 12 resources with 12, 11, … 1 views (a well-defined top 10) over 5 provinces, now or a minute ago;
    yesterday at the same time: 7 views."""
    today = [
        {
            "event_id": str(uuid.uuid4()),
            "resource_id": f"res-{r:02d}",
            "section": "course_teaching",
            "user_id": f"u{i}",
            "province": PROVINCES[(r + i) % len(PROVINCES)],
            "time": now - 60_000 * (i % 2),
        }
        for r in range(12)
        for i in range(12 - r)
    ]
    yesterday = [
        {"event_id": str(uuid.uuid4()), "resource_id": "res-00", "section": "course_teaching", "user_id": f"y{i}"}
        | {"province": "43", "time": now - DAY_MS}
        for i in range(7)
    ]
    return today + yesterday


async def test_an_administrator_signs_in_and_the_dashboard_shows_the_apis_figures(
    service_process, kafka_bootstrap, mongodb_url
):
    titles = {f"res-{r:02d}": f"第{r + 1}课 分数的意义（{r}）" for r in range(12)}
    # A database and consumer groups of its own: a counter database counts one views topic (viewstats.domain.source),
    # and the contract tests' viewstats counted the run's default topic into test_<run>_viewstats.
    own = f"dashboard{uuid.uuid4().hex[:8]}"
    # The catalog published these resources (what its consumer records): only their views count per resource,
    # and the top list shows their titles.
    mongo = AsyncMongoClient(mongodb_url, tz_aware=True)
    await LearningStore(mongo[f"test_{own}_viewstats"]).list_resources(titles, datetime.now(UTC), titles)
    await mongo.close()
    topic = f"test.viewstats.views.e2e.{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(**kafka_client_options())
    await admin.start()
    await admin.create_topics([NewTopic(topic, 4, 1)])
    stats_port = free_port()
    identity, admin_phone = identity_with_admin(
        service_process,
        MONGODB_DATABASE_PREFIX=f"test_{RUN_ID}_dashboard_",  # a bootstrap of its own
        IDENTITY_BROWSER_ORIGINS=f'["http://127.0.0.1:{stats_port}"]',
    )
    env = {
        "VIEWSTATS_VIEWS_TOPIC": topic,
        "VIEWSTATS_PARTITIONS": "4",
        "VIEWSTATS_RUN_LEARNING": "false",
        "VIEWSTATS_FLUSH_INTERVAL_SECONDS": "0.2",
        "VIEWSTATS_DASHBOARD_IDENTITY_URL": identity.url,
        "AUTH_JWKS_URL": f"{identity.url}/.well-known/jwks.json",
        "LOG_JSON": "false",
        "MONGODB_DATABASE_PREFIX": f"test_{own}_",
        "KAFKA_CLIENT_PREFIX": f"test-{own}-",
    }
    # A views topic of its own, which no service principal may read: the processes log in as admin.
    stats = service_process("viewstats.app:create_app", stats_port, kafka_principal="admin", **env)
    collector = service_process("viewstats.collector.app:create_app", free_port(), kafka_principal="admin", **env)
    browser = None
    try:
        stats.start()
        collector.start()
        beacons = beacons_of(int(time.time() * 1000))
        async with httpx.AsyncClient(base_url=collector.url) as c:
            r = await c.post("/v1/views", json={"views": beacons})
            assert r.status_code == 202 and r.json()["accepted"] == len(beacons) == 85
        await eventually(lambda: caught_up(kafka_bootstrap, f"test-{own}-viewstats-aggregator", topic), timeout=90)

        out = ROOT / "test-output"
        out.mkdir(exist_ok=True)
        browser = Browser()
        browser.open(f"{stats.url}/dashboard")
        assert browser.wait_for("Number(document.body.dataset.refreshes) >= 1"), browser.html()[-3000:]
        # Signed out: the public figures, no province figures, a sign-in form posting to identity.
        assert browser.js("document.querySelectorAll('#provinces [data-province]').length") == 0
        assert browser.js("!document.getElementById('signin').hidden")
        browser.screenshot(out / "dashboard-signed-out.png")

        # A wrong password: identity's answer on the page, still signed out.
        browser.type("#identifier", admin_phone)
        browser.type("#password", "not-the-password")
        browser.click("#signin-submit")
        assert browser.wait_for("document.getElementById('signin-error').textContent"), browser.html()[-3000:]
        assert browser.js("document.getElementById('signed-in').hidden")

        browser.js("document.getElementById('password').value = ''")
        browser.type("#password", PASSWORD)
        browser.click("#signin-submit")
        assert browser.wait_for("!document.getElementById('signed-in').hidden"), browser.js(
            "document.getElementById('signin-error').textContent"
        )
        assert "ministry_admin" in browser.js("document.getElementById('roles').textContent")
        refreshes = int(browser.js("document.body.dataset.refreshes"))
        # the next refresh after the sign-in drew the provinces, and one more followed by itself (every 5 s)
        assert browser.wait_for(f"Number(document.body.dataset.refreshes) >= {refreshes + 1}")
        assert browser.wait_for("document.querySelectorAll('#provinces [data-province]').length > 0")
        dom = Dom()
        dom.feed(browser.html())
        browser.screenshot(out / "dashboard.png")

        async with httpx.AsyncClient(base_url=stats.url) as s:
            async with httpx.AsyncClient() as i:
                login = {"identifier": admin_phone, "password": PASSWORD}
                token = (await i.post(f"{identity.url}/v1/sessions", json=login)).json()["access_token"]
            totals = (await s.get("/v1/stats/totals")).json()
            top = (await s.get("/v1/stats/top", params={"n": 10})).json()
            provinces = (await s.get("/v1/stats/provinces", headers={"Authorization": f"Bearer {token}"})).json()
            rate = (await s.get("/v1/stats/rate", params={"minute": dom.by_id["rate"]["data-minute"]})).json()
            first, last = dom.minutes[0]["data-t"], dom.minutes[-1]["data-t"]
            minutes = (await s.get("/v1/stats/series", params={"granularity": "m", "start": first, "end": last})).json()
            hours = {}
            for key, day in (
                ("today", totals["range"]["end"]),
                ("yesterday", totals["yesterday"]["day"]),
                ("lastyear", totals["same_day_last_year"]["day"]),
            ):
                shown = [p["data-t"] for p in dom.hours if p["data-series"] == key]
                params = {"granularity": "h", "start": f"{day}T00:00:00", "end": f"{shown[-1]}:00"}
                hours[key] = (await s.get("/v1/stats/series", params=params)).json()["points"]

        assert totals["all_time"] == 85 and totals["yesterday"]["views"] == 7 and totals["today"] == 78
        figures = {k: dom.by_id[k].get("data-value") for k in ("today", "yesterday", "lastyear", "alltime", "peak")}
        assert figures == {
            "today": str(totals["today"]),
            "yesterday": str(totals["yesterday"]["views"]),
            "lastyear": str(totals["same_day_last_year"]["views"]),
            "alltime": str(totals["all_time"]),
            "peak": str(totals["range"]["peak_views"]),
        }
        assert float(dom.by_id["avg"]["data-value"]) == totals["range"]["daily_average"]
        assert float(dom.by_id["rate"]["data-value"]) == rate["per_second"]
        assert float(dom.by_id["vs-yesterday"]["data-value"]) == pytest.approx((78 - 7) / 7, abs=1e-4)
        assert dom.by_id["vs-lastyear"]["data-value"] == ""  # no views a year ago: no ratio, not "+inf %"
        # the top 10 with the catalog's titles, in the API's order
        assert [(t["data-resource"], t["data-title"], int(t["data-views"])) for t in dom.top] == [
            (x["resource_id"], titles[x["resource_id"]], x["views"]) for x in top["resources"]
        ]
        assert [x["title"] for x in top["resources"]] == [titles[x["resource_id"]] for x in top["resources"]]
        # the per-minute bars and the per-hour points are the series' buckets
        assert [(b["data-t"], int(b["data-views"])) for b in dom.minutes] == [
            (p["t"], p["views"]) for p in minutes["points"]
        ]
        assert sum(int(b["data-views"]) for b in dom.minutes) == 78  # the last hour holds all of today's views
        for key, points in hours.items():
            shown = [(p["data-t"], int(p["data-views"])) for p in dom.hours if p["data-series"] == key]
            assert shown == [(p["t"], p["views"]) for p in points], key
        assert sum(v for _, v in ((p["t"], p["views"]) for p in hours["yesterday"])) == 7
        # the provinces, ranked, by their GB/T 2260 names
        assert {p["data-province"]: int(p["data-views"]) for p in dom.provinces} == provinces["views"]
        ranked = [p["data-province"] for p in dom.provinces]
        assert [provinces["views"][c] for c in ranked] == sorted(provinces["views"].values(), reverse=True)
        # views whose province is unknown (other tests' beacons from 127.0.0.1) are ranked as "none", named as such
        names = {code: p.short for code, p in NAMES.items()} | {"none": "未知 unknown"}
        assert dom.province_names == [names[c] for c in ranked]
        assert sum(provinces["views"].values()) == totals["today"]

        # Sign out: identity ends the session (its refresh token is refused), the province figures go.
        session = browser.js("JSON.parse(sessionStorage.getItem('session'))")
        browser.click("#signout")
        assert browser.wait_for("!document.getElementById('signed-out').hidden")
        assert browser.wait_for("document.querySelectorAll('#provinces [data-province]').length === 0")
        async with httpx.AsyncClient() as i:
            r = await i.post(f"{identity.url}/v1/sessions/refresh", json={"refresh_token": session["refresh_token"]})
            assert r.status_code == 401, r.text
        for shot in ("dashboard.png", "dashboard-signed-out.png"):
            assert (out / shot).read_bytes().startswith(b"\x89PNG") and (out / shot).stat().st_size > 10_000
    finally:
        if browser is not None:
            browser.close()
        collector.kill(15)
        stats.kill(15)  # before its topic goes
        await admin.delete_topics([topic])
        await admin.close()
        mongo = AsyncMongoClient(mongodb_url)
        await mongo.drop_database(f"test_{own}_viewstats")
        await mongo.close()
