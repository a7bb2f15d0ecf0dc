"""The live dashboard, end to end: the viewstats collector and aggregator run as processes against the real Kafka
and FerretDB, views go in through the collector, and Debian's headless Chromium renders /dashboard. The figures in
the rendered DOM must be the API's answers; the screenshot is kept in test-output/dashboard.png."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from pymongo import AsyncMongoClient

from common.messaging import kafka_client_options
from tests.conftest import ROOT, free_port
from tests.integration.common.helpers import eventually
from tests.integration.viewstats.conftest import AUD, ISS, Tokens, caught_up
from viewstats.store import LearningStore

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed: run `make browser`"),
]
PROVINCES = ["11", "31", "43", "44", "51"]


class Dom(HTMLParser):
    """The elements of the rendered page that carry figures: by id, and the rows of the lists."""

    def __init__(self) -> None:
        super().__init__()
        self.by_id: dict[str, dict[str, str]] = {}
        self.top: list[dict[str, str]] = []
        self.provinces: list[dict[str, str]] = []
        self.body: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if "id" in a:
            self.by_id[a["id"]] = a
        if tag == "tr" and "data-resource" in a:
            self.top.append(a)
        if "data-province" in a:
            self.provinces.append(a)
        if tag == "body":
            self.body = a


def chromium(*args: str) -> subprocess.CompletedProcess:
    profile = tempfile.mkdtemp(prefix="chromium-")
    try:
        return subprocess.run(
            [
                str(CHROMIUM),
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                f"--user-data-dir={profile}",
                *args,
            ],
            capture_output=True,
            text=True,
            timeout=180,
            check=True,
        )
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def serve_jwks(tokens: Tokens) -> ThreadingHTTPServer:
    """Identity's /.well-known/jwks.json, as far as the dashboard's token is concerned."""
    body = json.dumps(tokens.jwks()).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


async def test_dashboard_shows_the_apis_figures(service_process, kafka_bootstrap, mongodb_url, run_id):
    tokens = Tokens()
    # The catalog published these resources (what its consumer records): only their views count per resource.
    mongo = AsyncMongoClient(mongodb_url, tz_aware=True)
    await LearningStore(mongo[f"test_{run_id}_viewstats"]).list_resources(
        [f"res-{r:02d}" for r in range(12)], datetime.now(UTC)
    )
    await mongo.close()
    topic = f"test.viewstats.views.e2e.{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(**kafka_client_options())
    await admin.start()
    await admin.create_topics([NewTopic(topic, 4, 1)])
    jwks = serve_jwks(tokens)
    env = {
        "VIEWSTATS_VIEWS_TOPIC": topic,
        "VIEWSTATS_PARTITIONS": "4",
        "VIEWSTATS_RUN_LEARNING": "false",
        "VIEWSTATS_FLUSH_INTERVAL_SECONDS": "0.2",
        "AUTH_JWKS_URL": f"http://127.0.0.1:{jwks.server_port}/jwks.json",
        "AUTH_ISSUER": ISS,
        "AUTH_AUDIENCE": AUD,
        "LOG_JSON": "false",
    }
    # A views topic of its own, which no service principal may read: the processes log in as admin.
    stats = service_process("viewstats.app:create_app", free_port(), kafka_principal="admin", **env)
    collector = service_process("viewstats.collector.app:create_app", free_port(), kafka_principal="admin", **env)
    try:
        stats.start()
        collector.start()
        # 12 resources with 12, 11, … 1 views (a well-defined top 10), over 5 provinces, half a minute ago or now.
        now = int(time.time() * 1000)
        beacons = [
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
        async with httpx.AsyncClient(base_url=collector.url) as c:
            r = await c.post("/v1/views", json={"views": beacons})
            assert r.status_code == 202 and r.json()["accepted"] == len(beacons) == 78
        await eventually(lambda: caught_up(kafka_bootstrap, f"test-{run_id}-viewstats-aggregator", topic), timeout=90)

        token = tokens.token("ops-1", "ministry_admin")
        async with httpx.AsyncClient(base_url=stats.url) as s:
            totals = (await s.get("/v1/stats/totals")).json()
            top = (await s.get("/v1/stats/top", params={"n": 10})).json()
            provinces = (await s.get("/v1/stats/provinces", headers={"Authorization": f"Bearer {token}"})).json()
            assert totals["all_time"] == 78 and len(top["resources"]) == 10

            dom = Dom()
            page = chromium("--virtual-time-budget=15000", "--dump-dom", f"{stats.url}/dashboard#token={token}")
            dom.feed(page.stdout)
            rate = (await s.get("/v1/stats/rate", params={"minute": dom.by_id["rate"]["data-minute"]})).json()

        figures = {k: dom.by_id[k].get("data-value") for k in ("today", "alltime", "peak", "avg", "rate")}
        assert figures == {
            "today": str(totals["today"]),
            "alltime": str(totals["all_time"]),
            "peak": str(totals["range"]["peak_views"]),
            "avg": str(totals["range"]["daily_average"]),
            "rate": str(rate["per_second"]),
        }, page.stdout[-3000:]
        assert [(t["data-resource"], int(t["data-views"])) for t in dom.top] == [
            (x["resource_id"], x["views"]) for x in top["resources"]
        ]
        assert {p["data-province"]: int(p["data-views"]) for p in dom.provinces} == provinces["views"]
        assert sum(provinces["views"].values()) == totals["today"]
        assert int(dom.body["data-refreshes"]) >= 2  # it refreshed by itself (Chromium's virtual time)

        out = ROOT / "test-output"
        out.mkdir(exist_ok=True)
        shot = out / "dashboard.png"
        shot.unlink(missing_ok=True)
        chromium(
            "--virtual-time-budget=8000",
            "--hide-scrollbars",
            f"--screenshot={shot}",
            "--window-size=1400,1000",
            f"{stats.url}/dashboard#token={token}",
        )
        assert shot.read_bytes().startswith(b"\x89PNG") and shot.stat().st_size > 10_000
    finally:
        collector.kill(15)
        stats.kill(15)  # before its topic goes
        jwks.shutdown()
        await admin.delete_topics([topic])
        await admin.close()
