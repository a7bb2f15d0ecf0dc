"""The alerts fire on a real Prometheus when their condition is caused, and resolve after recovery.

The view statistics service runs as its own process, its store reached through a TCP relay the test can cut (a store
outage as the process sees it: connections refused and dropped). Its catalog consumer (``viewstats-catalog``) writes
the store for every record, so a cut store holds it on the record it has (the recommender's consumers, once used
here, keep their state in memory and never stall on the store). A Prometheus scrapes it every second and evaluates the
PrometheusRule's own expressions on a clock 60 times faster (deploy/local/prometheus_local.rules: every `for`,
range window and offset divided by 60, thresholds unchanged), so that a 3-minute `for` takes 3 seconds.

Not caused here: SmartEduConsumerLagGrowing needs 10,000 records behind on one pod, which would mean 10,000 records
on a topic every later consumer of the suite re-reads; its promtool tests (alerts.test.yaml) cover it.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import pytest
from aiokafka import AIOKafkaProducer

from common.messaging import encode, kafka_client_options
from common.topics import group
from tests.conftest import ServiceProcess, ensure_group_acls, free_port, isolated_env, kafka_login
from tests.integration.common.helpers import published
from tests.ops.tools import eventually, load_prometheus_local, tool

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]
SPEEDUP = 60
GROUP = "viewstats-catalog"


prometheus_local = load_prometheus_local()


class Relay:
    """A TCP relay to the store that can be cut (every connection dropped, new ones refused) and restored."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.port = free_port()
        self.listener: socket.socket | None = None
        self.connections: list[socket.socket] = []
        self.lock = threading.Lock()

    def start(self) -> Relay:
        self.listener = socket.create_server(("127.0.0.1", self.port))  # SO_REUSEADDR: the same port again
        threading.Thread(target=self._accept, args=(self.listener,), daemon=True).start()
        return self

    def cut(self) -> None:
        with self.lock:
            listener, self.listener = self.listener, None
            doomed, self.connections = self.connections, []
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        for conn in doomed:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.connections += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)


@dataclass
class Trouble:
    service: ServiceProcess
    relay: Relay
    prometheus: Any  # prometheus_local.Prometheus


@pytest.fixture(scope="module")
def trouble(tmp_path_factory: pytest.TempPathFactory, mongodb_url: str) -> Iterator[Trouble]:
    binary = tool("SMARTEDU_PROMETHEUS")
    tmp = tmp_path_factory.mktemp("alerts")
    store = urlparse(mongodb_url)
    relay = Relay((store.hostname or "127.0.0.1", store.port or 27017)).start()
    env = isolated_env(
        **kafka_login("viewstats"),
        MONGODB_URL=f"mongodb://127.0.0.1:{relay.port}/?serverSelectionTimeoutMS=2000&connectTimeoutMS=2000",
        KAFKA_CLIENT_PREFIX=f"ops-{uuid.uuid4().hex[:8]}-",  # its own groups: only this test's records matter
    )
    ensure_group_acls(env["KAFKA_CLIENT_PREFIX"])
    service = ServiceProcess("viewstats.app:create_app", free_port(), tmp / "viewstats.log", env)
    prometheus = None
    try:
        service.start(timeout=180)
        prometheus_local.BINARY = binary
        targets = [prometheus_local.Target("viewstats", service.url)]
        prometheus = prometheus_local.Prometheus(
            free_port(), tmp / "prometheus", targets, interval="1s", speedup=SPEEDUP
        ).start()
        yield Trouble(service, relay, prometheus)
    finally:
        if prometheus is not None:
            prometheus.stop()
        service.kill(15)
        relay.cut()


def alert_states(prometheus: Any, name: str) -> dict[str, str]:
    """service/group → state (pending, firing) of the alert ``name``'s active instances."""
    return {
        a["labels"].get("group") or a["labels"].get("service", ""): a["state"]
        for a in prometheus.alerts()
        if a["labels"]["alertname"] == name
    }


def test_a_store_outage_fires_not_ready_and_recovery_resolves_it(trouble: Trouble) -> None:
    prom = trouble.prometheus
    assert eventually(lambda: [r["value"][1] for r in prom.query('service_ready{service="viewstats"}')] == ["1"])
    assert alert_states(prom, "SmartEduNotReady") == {}

    trouble.relay.cut()
    try:
        fired = eventually(lambda: alert_states(prom, "SmartEduNotReady") == {"viewstats": "firing"} or None)
        assert fired is True, (prom.query("service_ready"), prom.alerts())
        assert trouble.service.status() == 503  # the probe says the same
    finally:
        trouble.relay.start()

    resolved = eventually(lambda: alert_states(prom, "SmartEduNotReady") == {} or None, timeout=120)
    assert resolved is True, (prom.query("service_ready"), prom.alerts())
    assert trouble.service.status() == 200


def test_a_poison_record_fires_dead_lettered_which_resolves_when_no_more_come(trouble: Trouble) -> None:
    prom = trouble.prometheus
    # The group read the topic from its start: dead letters of records other tests left there resolve first.
    quiet = eventually(lambda: GROUP not in alert_states(prom, "SmartEduMessagesDeadLettered") or None, 120)
    assert quiet is True, prom.alerts()
    topic = group(GROUP).topics[0]

    async def poison() -> None:
        producer = AIOKafkaProducer(**kafka_client_options())
        await producer.start()
        try:
            await producer.send_and_wait(topic, b"\xff not an event", key=f"ops-poison-{uuid.uuid4()}".encode())
        finally:
            await producer.stop()

    asyncio.run(poison())
    fired = eventually(lambda: alert_states(prom, "SmartEduMessagesDeadLettered").get(GROUP) == "firing" or None)
    assert fired is True, prom.alerts()
    # 15 minutes without a new dead letter (15 s on this clock): resolved, the record still in the DLQ.
    resolved = eventually(lambda: GROUP not in alert_states(prom, "SmartEduMessagesDeadLettered") or None, 120)
    assert resolved is True, prom.alerts()
    assert [float(r["value"][1]) > 0 for r in prom.query(f'kafka_dlq_depth{{group="{GROUP}"}}')] == [True]


def test_a_stuck_consumer_reports_its_growing_lag(trouble: Trouble) -> None:
    """What SmartEduConsumerLagGrowing and KEDA need: a consumer whose handler cannot progress (its store is away)
    keeps reporting the records arriving behind it. (Measured from the fetcher's high-water mark, the lag of a
    stuck consumer froze at what it had fetched before it stuck: 0.)"""
    prom = trouble.prometheus
    topic = group(GROUP).topics[0]
    lag = f'sum(kafka_consumer_lag{{group="{GROUP}",topic="{topic}"}})'

    async def publish(n: int) -> None:
        producer = AIOKafkaProducer(**kafka_client_options())
        await producer.start()
        try:
            for _ in range(n):  # one key: one partition, behind the record the handler is stuck on
                value, headers = encode(published(), "/tests/ops")
                headers_list = [(k, v.encode()) for k, v in headers.items()]
                await producer.send(topic, value, key=b"ops-stuck", headers=headers_list)
            await producer.flush()
        finally:
            await producer.stop()

    def lag_now() -> float:
        return sum(float(r["value"][1]) for r in prom.query(lag))

    assert eventually(lambda: lag_now() == 0) is True
    trouble.relay.cut()
    try:
        asyncio.run(publish(1))
        time.sleep(3)  # the handler has taken it and retries the store
        asyncio.run(publish(30))
        assert eventually(lambda: lag_now() >= 30, timeout=60) is True, prom.query(lag)
    finally:
        trouble.relay.start()
    assert eventually(lambda: lag_now() == 0, timeout=120) is True, prom.query(lag)
