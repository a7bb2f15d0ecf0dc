"""The observability tier: a real Prometheus (Debian's, from `make ops-tools`) scrapes every process of a running
stack (each service its own process, on the real Kafka and store) with the platform's alert rules, as the
ServiceMonitor and PrometheusRule make it in a cluster. Every query of every Grafana dashboard runs against it and
must answer with data; every business figure's panel must show a rise, the traffic having done each business action
through the public APIs (tests/ops/business.py); a dead letter makes its alert fire.

The stack is every process kind of libs/common/topics.py (PRINCIPALS), so a new service is scraped and checked
without this file changing.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from common.messaging import encode, kafka_client_options
from common.topics import CONSUMER_GROUPS, PRINCIPALS
from tests.conftest import ServiceProcess, ensure_group_acls, free_port, isolated_env, kafka_login
from tests.integration.common.helpers import published
from tests.integration.common.tokens import Tokens
from tests.ops.business import AUDIENCE, EXPECTED, ISSUER, drive_business
from tests.ops.tools import ROOT, eventually, load_prometheus_local, tool

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]
DASHBOARDS = ROOT / "deploy" / "k8s" / "observability" / "dashboards"


prometheus_local = load_prometheus_local()


@dataclass
class Stack:
    processes: dict[str, ServiceProcess]
    prometheus: Any  # prometheus_local.Prometheus
    tokens: Tokens  # tokens the services take beside identity's (tests/ops/business.py)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    binary = tool("SMARTEDU_PROMETHEUS")
    tmp = tmp_path_factory.mktemp("observability")
    processes: dict[str, ServiceProcess] = {}
    prometheus = jwks = None

    def process(name: str, factory: str, **env: str) -> ServiceProcess:
        full = isolated_env(**kafka_login(name), **env)
        ensure_group_acls(full["KAFKA_CLIENT_PREFIX"])
        processes[name] = ServiceProcess(factory, free_port(), tmp / f"{name}.log", full)
        return processes[name]

    try:
        by_name = {p.name: p for p in PRINCIPALS}
        identity = process("identity", by_name["identity"].factory, IDENTITY_SEED_DEMO="true").start(timeout=180)
        tokens = Tokens(iss=ISSUER, aud=AUDIENCE)  # taken beside identity's (tests/ops/business.py)
        jwks_url, jwks = tokens.serve(beside=f"{identity.url}/.well-known/jwks.json")
        auth = {"AUTH_JWKS_URL": jwks_url, "AUTH_JWKS_MIN_REFRESH_SECONDS": "0"}
        others = [process(p.name, p.factory, **auth) for p in PRINCIPALS if p.name != "identity"]
        for sp in others:
            sp.start(wait_ready=False)
        for sp in others:
            sp.wait_ready(timeout=300)
        targets = [prometheus_local.Target(name, sp.url) for name, sp in processes.items()]
        prometheus_local.BINARY = binary
        prometheus = prometheus_local.Prometheus(free_port(), tmp / "prometheus", targets, interval="1s").start()
        yield Stack(processes, prometheus, tokens)
    finally:
        if prometheus is not None:
            prometheus.stop()
        for sp in processes.values():
            sp.kill(15)
        if jwks is not None:
            jwks.shutdown()


def drive_traffic(stack: Stack) -> None:
    """Requests to every service, views to the collector, every business action (tests/ops/business.py), and on
    every topic a consumer group reads: one valid catalog event and one record no consumer can decode (it goes to
    the group's dead-letter topic)."""
    catalog_read = f"{stack.processes['catalog'].url}/v1/resources"
    # a catalog read before and after the rest: its series exists (at 1) in a scrape before it rises, so the
    # panel's rate() sees a rise (a series born at 1 and never moving has a rate of 0)
    assert httpx.get(catalog_read, params={"limit": 1}, timeout=30).status_code == 200
    drive_business({name: sp.url for name, sp in stack.processes.items()}, stack.tokens)
    with httpx.Client(timeout=30) as http:
        for sp in stack.processes.values():
            for _ in range(3):
                assert http.get(f"{sp.url}/openapi.json").status_code == 200
            http.get(f"{sp.url}/v1/no-such-route")
        # a catalog read again, and a refused login
        assert http.get(catalog_read, params={"limit": 1}).status_code == 200
        login = {"identifier": "13800000000", "password": "not-the-password"}
        assert http.post(f"{stack.processes['identity'].url}/v1/sessions", json=login).status_code == 401
        collector = stack.processes["viewstats-collector"].url
        beacon = {"resource_id": f"ops-{uuid.uuid4().hex[:8]}", "section": "course_teaching", "visitor_id": "ops"}
        beacons = [{"event_id": str(uuid.uuid4()), **beacon} for _ in range(5)]
        assert http.post(f"{collector}/v1/views", json=beacons).status_code == 202

    async def publish() -> None:
        producer = AIOKafkaProducer(**kafka_client_options())
        await producer.start()
        try:
            value, headers = encode(published(), "/tests/ops")
            await producer.send_and_wait(
                "catalog.resources.v1", value, key=b"ops", headers=[(k, v.encode()) for k, v in headers.items()]
            )
            for topic in sorted({t for g in CONSUMER_GROUPS for t in g.topics}):
                await producer.send_and_wait(topic, b"\xff not an event", key=f"ops-poison-{uuid.uuid4()}".encode())
        finally:
            await producer.stop()

    asyncio.run(publish())


def business_figures() -> tuple[tuple[str, str, str, str, str, str], ...]:
    """dashboards.py's BUSINESS: (service, title, unit, description, query, legend) of every business panel."""
    spec = importlib.util.spec_from_file_location("dashboards", ROOT / "deploy/k8s/observability/dashboards.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.BUSINESS


def panel_queries() -> list[tuple[str, str, str]]:
    """(dashboard file, panel title, PromQL) of every target of every panel."""
    out = []
    for path in sorted(DASHBOARDS.glob("*.json")):
        for panel in json.loads(path.read_text())["panels"]:
            out += [(path.name, panel["title"], t["expr"]) for t in panel.get("targets", [])]
    return out


def test_prometheus_scrapes_every_process(stack: Stack) -> None:
    prom = stack.prometheus
    health = eventually(lambda: set(prom.targets_health().values()) == {"up"} or prom.targets_health(), timeout=60)
    assert health is True, health
    up = {r["metric"]["service"]: r["value"][1] for r in prom.query('up{platform="smartedu"}')}
    assert up == {p.name: "1" for p in PRINCIPALS}
    ready = eventually(lambda: {r["metric"]["service"] for r in prom.query("service_ready == 1")} == set(up))
    assert ready is True, prom.query("service_ready")


def test_every_dashboard_query_answers_with_data(stack: Stack) -> None:
    """A query that Prometheus refuses, or that has no series although the stack produced what it shows, fails."""
    prom = stack.prometheus
    # The check can fail: a query Prometheus refuses raises, a series nobody exports is empty.
    with pytest.raises(ValueError, match="parse"):
        prom.query("sum by (service) (rate(http_requests_total[5m])")
    assert prom.query('http_requests_total{service="no-such-service"}') == []
    drive_traffic(stack)
    queries = panel_queries()
    assert len(queries) > 40

    def missing() -> list[str]:
        problems = []
        for board, title, expr in queries:
            try:
                if not prom.query(expr):
                    problems.append(f"{board} / {title}: no data from {expr}")
            except ValueError as error:
                problems.append(f"{board} / {title}: {error} in {expr}")
        return problems

    # Rates need two scrapes after the traffic, consumers a moment to take the records: poll until it settles.
    problems = eventually(lambda: missing() or True, timeout=120, every=3)
    assert problems is True, "\n".join(problems)
    # A business figure's panel has a (zero) series from the process's start: "has data" alone would pass with
    # the counter never counted. Every action drive_traffic did shows, under its label, on the panel's query.
    for name, (label, values) in EXPECTED.items():
        counted = {r["metric"][label] for r in prom.query(f"{name} > 0")}
        assert counted >= values, (name, prom.query(name))

    def flat() -> list[str]:
        return [f"{title}: {expr}" for _, title, _, _, expr, _ in business_figures() if not prom.query(f"({expr}) > 0")]

    assert eventually(lambda: flat() or True, timeout=60) is True, flat()


def test_a_dead_letter_fires_its_alert(stack: Stack) -> None:
    """The poison records of the previous test were dead-lettered: SmartEduMessagesDeadLettered fires (no `for`)
    for a group that consumes them, on the real Prometheus evaluating the PrometheusRule."""
    prom = stack.prometheus

    def firing() -> set[str]:
        return {
            a["labels"].get("group", "")
            for a in prom.alerts()
            if a["labels"]["alertname"] == "SmartEduMessagesDeadLettered" and a["state"] == "firing"
        }

    assert eventually(lambda: bool(firing()), timeout=90) is True, prom.alerts()
    groups = firing()
    assert groups <= {g.name for g in CONSUMER_GROUPS}, groups

    def deep() -> set[str]:
        return {r["metric"]["group"] for r in prom.query("kafka_dlq_depth > 0")}

    # The depth is measured every 5 s by each consumer; the aggregator (not a chassis consumer) reports none.
    chassis_groups = groups - {"viewstats-aggregator"}
    assert eventually(lambda: chassis_groups <= deep(), timeout=30) is True, (groups, prom.query("kafka_dlq_depth"))
