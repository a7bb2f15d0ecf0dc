"""Shared fixtures. Integration and e2e tests use the real Kafka and store that `make test` starts (or the
ones KAFKA_BOOTSTRAP_SERVERS / MONGODB_URL name). Every run gets its own consumer-group prefix and database
prefix, so runs never see each other's offsets or documents."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RUN_ID = uuid.uuid4().hex[:8]


@pytest.fixture(scope="session")
def run_id() -> str:
    return RUN_ID


@pytest.fixture(scope="session")
def kafka_bootstrap() -> str:
    return os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")


@pytest.fixture(scope="session")
def mongodb_url() -> str:
    return os.environ.get("MONGODB_URL", "mongodb://127.0.0.1:27017")


KAFKA_CREDENTIALS = Path(os.environ.get("SMARTEDU_STATE", ROOT / ".cache" / "state")) / "kafka-credentials.env"
_ACL_PREFIXES: set[str] = set()


def kafka_secured() -> bool:
    """The suite runs on the broker deploy/local/infra.sh started: SASL logins and ACLs, passwords in its file."""
    return os.environ.get("KAFKA_SECURITY_PROTOCOL", "PLAINTEXT") != "PLAINTEXT" and KAFKA_CREDENTIALS.exists()


def kafka_login(principal: str) -> dict[str, str]:
    """The environment of a process logged in to Kafka as ``principal`` (common.topics.PRINCIPALS, or admin), with
    the ACLs of its consumer groups under the run's prefix; nothing where the broker is not ours."""
    if not kafka_secured():
        return {}
    from common.topics import read_credentials

    return {"KAFKA_SASL_USERNAME": principal, "KAFKA_SASL_PASSWORD": read_credentials(KAFKA_CREDENTIALS)[principal]}


def ensure_group_acls(group_prefix: str) -> None:
    """The principals' ACLs for consumer groups named ``<group_prefix><group>`` (each test run, or a test, prefixes
    its groups; the ACLs name them exactly). Made once per prefix, as admin, from common.topics."""
    if not kafka_secured() or group_prefix in _ACL_PREFIXES:
        return
    import concurrent.futures

    from aiokafka.admin import AIOKafkaAdminClient

    from common.messaging import kafka_client_options
    from common.topics import create_acls

    async def create() -> None:
        admin = AIOKafkaAdminClient(**kafka_client_options())
        await admin.start()
        try:
            await create_acls(admin, group_prefix)
        finally:
            await admin.close()

    with concurrent.futures.ThreadPoolExecutor(1) as pool:  # callers may be inside a running event loop
        pool.submit(asyncio.run, create()).result()
    _ACL_PREFIXES.add(group_prefix)


def isolated_env(**overrides: str) -> dict[str, str]:
    """Environment for a service under test: its own group and database prefixes."""
    env = dict(os.environ)
    env.update(
        PYTHONPATH=os.pathsep.join([str(ROOT / "libs"), str(ROOT / "services")]),
        KAFKA_CLIENT_PREFIX=f"test-{RUN_ID}-",
        MONGODB_DATABASE_PREFIX=f"test_{RUN_ID}_",
        LOG_JSON="true",
    )
    env.update(overrides)
    return env


class ServiceProcess:
    """A service run the way production runs it: its own uvicorn process."""

    def __init__(self, factory: str, port: int, log: Path, env: dict[str, str]) -> None:
        self.factory, self.port, self.log_path, self.env = factory, port, log, env
        self.url = f"http://127.0.0.1:{port}"
        self.proc: subprocess.Popen | None = None

    def start(self, wait_ready: bool = True, timeout: float = 60) -> ServiceProcess:
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the child
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "--factory",
                self.factory,
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--no-access-log",
                # as deploy/k8s runs it: longer than any client's idle pool (httpx keeps one 5 s, uvicorn's default
                # keep-alive), or a request sent on a connection the server is closing dies with a reset
                "--timeout-keep-alive",
                "75",
            ],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            start_new_session=True,
        )
        if wait_ready:
            self.wait_ready(timeout)
        return self

    def status(self, path: str = "/readyz") -> int:
        try:
            with urllib.request.urlopen(self.url + path, timeout=3) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code
        except OSError:
            return 0

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc and self.proc.poll() is not None:
                raise RuntimeError(f"{self.factory} exited: {self.log_path.read_text()[-3000:]}")
            if self.status() == 200:
                return
            time.sleep(0.3)
        raise TimeoutError(f"{self.factory} not ready in {timeout}s: {self.log_path.read_text()[-3000:]}")

    def kill(self, sig: int = 9) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            self.proc.wait(timeout=30)


@pytest.fixture
def service_process(tmp_path: Path) -> Iterator:
    started: list[ServiceProcess] = []

    def make(factory: str, port: int, kafka_principal: str | None = None, **env: str) -> ServiceProcess:
        """``factory``'s service as a process logged in to Kafka as its own principal (so the suite runs the
        services under their ACLs), or as ``kafka_principal`` (admin where a test uses topics of its own)."""
        from common.topics import principal_of

        full = isolated_env(**kafka_login(kafka_principal or principal_of(factory).name), **env)
        ensure_group_acls(full["KAFKA_CLIENT_PREFIX"])
        sp = ServiceProcess(factory, port, tmp_path / f"{factory.split('.')[0]}-{port}.log", full)
        started.append(sp)
        return sp

    yield make
    for sp in started:
        sp.kill(15)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
