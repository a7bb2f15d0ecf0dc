"""`make run`: start every service as its own process on loopback, wait until each /readyz is green, load the
demo data, print the URLs, and on Ctrl-C (or `make stop`) stop every process it started.

Services are started with uvicorn from their `create_app` factories, each in its own process, forked from this
one once the imports they share are loaded (:func:`preload`). Once all are ready, deploy/local/demo.py
loads the demo dataset through their APIs (skipped where the data is already there). Kafka and FerretDB are started by
deploy/local/infra.sh (from here, while the imports load), the declared topics created, then the services.

A service that dies while the platform runs is reported (its name, exit status or signal, the end of its log) and
the whole platform is stopped, `make run` exiting non-zero. Not restarted: a local stack is where a developer
should see a crash, not have it hidden (a catalog aborted by one request once went unnoticed while `make run`
carried on); a crash that a request triggers would only come back; and restarting is the orchestrator's job in
production (Kubernetes' restart policy, with its back-off and restart count for the SREs to see).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STATE = Path(os.environ.get("SMARTEDU_STATE", ROOT / ".cache" / "state"))
PIDS = STATE / "services.json"
SUPERVISOR = STATE / "devstack.pid"  # `make stop` asks the running supervisor to stop, so no death is reported
PYTHON = sys.executable
if str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))  # the dev tooling's own apps (the fake teacher registry) are imported from here


@dataclass(frozen=True)
class Process:
    name: str
    factory: str  # module:function
    port: int
    # The catalog is the long pole of a start (topic, tree and search index before it is ready, ≈ 18 s of one
    # core): the others start at a lower CPU priority so that on a two-core machine it is not slowed by their
    # imports. Priority only matters while they compete; an idle stack is unaffected.
    nice: int = 10

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


PROCESSES = [
    Process("identity", "identity.app:create_app", 8102),
    Process("identity-feeds", "identity.feeds.app:create_app", 8112),  # the subscriber feed router
    Process("catalog", "catalog.app:create_app", 8101, nice=0),
    Process("viewstats", "viewstats.app:create_app", 8103),
    Process("viewstats-collector", "viewstats.collector.app:create_app", 8113),
    Process("recommender", "recommender.app:create_app", 8104),
    Process("classgroups", "classgroups.app:create_app", 8105),
    Process("xapi", "xapi.app:create_app", 8106),  # learning events → statements in Ralph (RALPH_PORT)
    Process("teacher-registry (fake)", "deploy.local.teacher_registry.app:fake_registry_app", 8199),
]
URL = {p.name: p.url for p in PROCESSES}
CONTRACT_TOOLS = ROOT / "deploy" / "local" / "contract-tools.sh"
RALPH_PORT = 8100  # the xAPI Learning Record Store (Ralph) the exporter writes to, unless XAPI_LRS_URL is set


def available(p: Process) -> bool:
    module = p.factory.split(":")[0]
    return importlib.util.find_spec(module) is not None


def env(kafka_principal: str | None = "admin") -> dict[str, str]:
    """The services' environment; on the broker infra.sh runs (no KAFKA_BOOTSTRAP_SERVERS given), logged in as
    ``kafka_principal`` with the password infra.sh generated (each service as its own principal, tools as admin)."""
    e = dict(os.environ)
    credentials = STATE / "kafka-credentials.env"
    if "KAFKA_BOOTSTRAP_SERVERS" not in os.environ and kafka_principal and credentials.exists():
        from common.topics import read_credentials

        e.update(
            KAFKA_SECURITY_PROTOCOL="SASL_PLAINTEXT",
            KAFKA_SASL_MECHANISM="SCRAM-SHA-512",
            KAFKA_SASL_USERNAME=kafka_principal,
            KAFKA_SASL_PASSWORD=read_credentials(credentials)[kafka_principal],
        )
    s3 = STATE / "s3-credentials.env"
    if "S3_ENDPOINT_URL" not in os.environ and s3.exists():  # the object store infra.sh runs (class groups' media)
        keys = dict(line.partition("=")[::2] for line in s3.read_text().splitlines() if not line.startswith("#"))
        e.update(
            S3_ENDPOINT_URL=f"http://127.0.0.1:{os.environ.get('LOCAL_S3_PORT', '8333')}",
            S3_ACCESS_KEY_ID=keys["S3_ACCESS_KEY_ID"],
            S3_SECRET_ACCESS_KEY=keys["S3_SECRET_ACCESS_KEY"],
        )
    ralph = STATE / "ralph" / "credentials.env"
    if "XAPI_LRS_URL" not in os.environ and ralph.exists():  # the LRS contract-tools.sh runs (Ralph)
        e.update(
            XAPI_LRS_URL=f"http://127.0.0.1:{RALPH_PORT}/xAPI/",
            XAPI_LRS_USERNAME="smartedu-xapi",
            XAPI_LRS_PASSWORD=ralph.read_text().strip().partition("=")[2],
        )
    e["PYTHONPATH"] = os.pathsep.join([str(ROOT / "libs"), str(ROOT / "services")])
    e.setdefault("LOG_JSON", "true")
    # the services find each other on loopback: tokens verified against identity's keys, the fake registry
    e.setdefault("AUTH_JWKS_URL", f"{URL['identity']}/.well-known/jwks.json")
    e.setdefault("IDENTITY_TEACHER_REGISTRY_URL", URL["teacher-registry (fake)"])
    e.setdefault("IDENTITY_SEED_DEMO", "true")  # the demo schools (off by default, refused in production)
    # the statistics dashboard signs administrators in at identity, from its own origin (CORS on identity)
    e.setdefault("VIEWSTATS_DASHBOARD_IDENTITY_URL", URL["identity"])
    e.setdefault("IDENTITY_BROWSER_ORIGINS", json.dumps([URL["viewstats"]]))
    # The demo loads a week of synthetic traffic (≈ 183,000 beacons) from this one local address within seconds: the
    # collector's per-address limit (200 beacons/s, bursts of 5,000 by default, as in production) would refuse it.
    e.setdefault("VIEWSTATS_COLLECTOR_IP_RATE_PER_SECOND", "50000")
    e.setdefault("VIEWSTATS_COLLECTOR_IP_BURST", "500000")
    return e


class Child:
    """A service process forked from this one (see :func:`start`)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            with contextlib.suppress(ChildProcessError):
                pid, status = os.waitpid(self.pid, os.WNOHANG)
                if pid == 0:
                    return None
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def how(self) -> str:
        """How it ended: ``exit status 1`` or ``killed by SIGABRT (signal 6, a shell reports 134)``."""
        code = self.returncode
        if code is None:
            return "still running"
        if code >= 0:
            return f"exit status {code}"
        return f"killed by {signal.Signals(-code).name} (signal {-code}, a shell reports {128 - code})"


def log_of(name: str) -> Path:
    return STATE / "logs" / f"{name.split()[0]}.log"


def report_death(name: str, child: Child, lines: int = 20) -> None:
    """What an operator needs to know about a service that died: which one, how, and the end of its log."""
    log = log_of(name)
    tail = log.read_text(errors="replace").splitlines()[-lines:] if log.exists() else []
    print(f"\n{name} (pid {child.pid}) died: {child.how()}. The end of {log}:", flush=True)
    print("\n".join(f"  | {line}" for line in tail) if tail else "  (empty)", flush=True)


def supervise(children: dict[str, Child], stopping: Callable[[], bool], every: float = 0.5) -> int:
    """Watch the running services until a stop is asked for (0) or one of them dies (reported; 1)."""
    while not stopping():
        died = [name for name, child in children.items() if child.poll() is not None]
        if died:
            for name in died:
                report_death(name, children[name])
            print(f"stopping the platform: {', '.join(died)} died (see above)", flush=True)
            return 1
        time.sleep(every)
    return 0


def preload() -> None:
    """Import once what every service imports (FastAPI, FastStream, PyMongo, pydantic, OpenTelemetry, uvicorn:
    ≈ 2.5 s of CPU per process, 85 % of a service's start), then fork each service from this process. Seven
    processes importing it all at once on two cores cost ≈ 15 s of the start. Each service is still its own
    process, started the way its container starts it (uvicorn with the service's app factory)."""
    for path in (str(ROOT / "services"), str(ROOT / "libs")):
        if path not in sys.path:
            sys.path.insert(0, path)
    import uvicorn  # noqa: F401

    import common.service  # noqa: F401


def start(procs: list[Process]) -> dict[str, Child]:
    """Fork each service from this process, once :func:`preload` has run."""
    logs = STATE / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    children: dict[str, Child] = {}
    for p in procs:
        log = logs / f"{p.name.split()[0]}.log"
        sys.stdout.flush()
        pid = os.fork()  # no threads run here yet: forking is safe
        if pid == 0:
            _serve(p, log)
        children[p.name] = Child(pid)
        print(f"  started {p.name:26} pid {pid:<7} log {log.relative_to(ROOT) if log.is_relative_to(ROOT) else log}")
    PIDS.write_text(json.dumps({name: c.pid for name, c in children.items()}))
    return children


def _serve(p: Process, log: Path) -> None:
    """In the forked child: its own session (Ctrl-C and `make stop` signal each service's process group), its
    priority, its log, the services' environment, then uvicorn as `uvicorn --factory <app factory>` runs it."""
    code = 1
    try:
        os.setsid()
        if p.nice:
            os.nice(p.nice)
        fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        from common.topics import PRINCIPALS  # its Kafka login; none for a helper that uses no Kafka (the fake)

        service_env = env(next((k.name for k in PRINCIPALS if k.factory == p.factory), None))
        os.environ.clear()
        os.environ.update(service_env)
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_DFL)
        import uvicorn

        uvicorn.run(
            p.factory,
            factory=True,
            host="127.0.0.1",
            port=p.port,
            access_log=False,
            timeout_graceful_shutdown=25,
            timeout_keep_alive=75,  # as deploy/k8s: longer than clients' idle pools, so no reused connection races
        )
        code = 0
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        os._exit(code)


def ready(p: Process) -> bool:
    path = "/readyz" if "fake" not in p.name else "/healthz"
    try:
        with urllib.request.urlopen(p.url + path, timeout=2) as r:
            return r.status == 200
    except Exception:
        return False


def stop_all() -> None:
    if not PIDS.exists():
        return
    pids = json.loads(PIDS.read_text())
    for name, pid in pids.items():
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
            print(f"  stopping {name} (pid {pid})")
    deadline = time.monotonic() + 30
    for pid in pids.values():
        while time.monotonic() < deadline:
            with contextlib.suppress(ChildProcessError):  # reap our own child: a zombie still takes signals
                os.waitpid(pid, os.WNOHANG)
            try:
                os.killpg(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.2)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
    PIDS.unlink(missing_ok=True)


def stop_supervisor(timeout: float = 60) -> None:
    """Ask a running `make run` to stop its services itself (SIGTERM, as Ctrl-C), so that it does not take their
    exits for deaths; wait for it to finish."""
    with contextlib.suppress(FileNotFoundError, ValueError):
        pid = int(SUPERVISOR.read_text())
        with contextlib.suppress(FileNotFoundError):
            if "devstack" not in Path(f"/proc/{pid}/cmdline").read_text(errors="replace"):
                return  # a stale file: that pid is some other process now
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
            print(f"  asked make run (pid {pid}) to stop")
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                with contextlib.suppress(ChildProcessError):  # reaped if it is ours (a zombie takes signals)
                    os.waitpid(pid, os.WNOHANG)
                os.kill(pid, 0)  # ProcessLookupError once it has exited
                time.sleep(0.2)


PROMETHEUS_PORT = 8190


def start_prometheus(procs: list[Process]):  # -> prometheus_local.Prometheus | None
    """Prometheus scraping every service (deploy/local/prometheus_local.py), with the platform's alert rules; its
    pid joins the services' so that `make stop` stops it too. Without `make ops-tools` the platform runs without it."""
    sys.path.insert(0, str(Path(__file__).parent))
    import prometheus_local

    targets = [prometheus_local.Target(p.name, p.url) for p in procs if "fake" not in p.name]
    prometheus = prometheus_local.Prometheus(PROMETHEUS_PORT, STATE / "prometheus", targets, interval="5s")
    try:
        prometheus.start()
    except (OSError, RuntimeError) as exc:
        print(f"  prometheus not started: {exc}")
        return None
    assert prometheus.proc is not None
    PIDS.write_text(json.dumps({**json.loads(PIDS.read_text()), "prometheus": prometheus.proc.pid}))
    print(f"  started {'prometheus':26} pid {prometheus.proc.pid:<7} {prometheus.url}")
    return prometheus


def _ralph_env() -> dict[str, str]:
    return {**os.environ, "SMARTEDU_STATE": str(STATE), "LOCAL_RALPH_PORT": str(RALPH_PORT)}


def lrs_ready() -> bool:
    """Ralph started (on the FerretDB infra.sh runs) unless XAPI_LRS_URL names an LRS; False (and the exporter is
    left out, with the reason) when the broker's storage predates the exporter's principal or Ralph did not start."""
    credentials = STATE / "kafka-credentials.env"
    if "KAFKA_BOOTSTRAP_SERVERS" not in os.environ and credentials.exists():
        from common.topics import read_credentials

        if "xapi" not in read_credentials(credentials):
            print("  xapi left out: the local broker was formatted before its Kafka user existed (`make clean` once)")
            return False
    if "XAPI_LRS_URL" in os.environ:
        return True
    started = subprocess.run(["bash", str(CONTRACT_TOOLS), "ralph-start"], env=_ralph_env(), cwd=ROOT)
    if started.returncode != 0:
        print("  xapi left out: Ralph, its Learning Record Store, did not start (see above)")
    return started.returncode == 0


def run(timeout: float, skip_demo: bool) -> int:
    begun = time.monotonic()
    stop_all()  # a previous run killed hard may have left services behind
    procs = [p for p in PROCESSES if available(p)]
    # Kafka's JVM takes seconds to start: the services' shared imports are loaded meanwhile.
    infra = subprocess.Popen([str(ROOT / "deploy" / "local" / "infra.sh"), "start"], cwd=ROOT)
    preload()
    if infra.wait() != 0:
        print("the infrastructure did not start (see above)")
        return 1
    topics = subprocess.run([PYTHON, "-m", "common.topics", "create"], env=env(), cwd=ROOT)
    if topics.returncode != 0:
        return 1
    procs = [p for p in procs if p.name != "xapi" or lrs_ready()]
    started = time.monotonic()
    print("starting services:")
    children = start(procs)
    prometheus = start_prometheus(procs)
    stopping = False

    def on_signal(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    SUPERVISOR.write_text(str(os.getpid()))
    try:
        pending = list(procs)
        while pending and not stopping:
            for p in [p for p in pending if ready(p)]:
                pending.remove(p)
                print(f"  {p.name:26} ready after {time.monotonic() - started:.1f} s", flush=True)
            died = [p for p in procs if children[p.name].poll() is not None]
            if died:
                for p in died:
                    report_death(p.name, children[p.name])
                print("stopping the platform: a service died during start-up (see above)")
                return 1
            if time.monotonic() - started > timeout:
                print(f"not ready after {timeout:.0f} s: {', '.join(p.name for p in pending)} (see their logs)")
                return 1
            time.sleep(0.5)
        if stopping:
            return 130
        print(f"all {len(procs)} processes ready in {time.monotonic() - started:.1f} s")
        if not skip_demo:
            t = time.monotonic()
            print("loading the demo data (first run only) …", flush=True)
            loaded = subprocess.Popen([PYTHON, str(ROOT / "deploy" / "local" / "demo.py")], env=env(), cwd=ROOT)
            # a service that dies while the demo loads is reported then, not once the demo has given up
            died = supervise(children, lambda: stopping or loaded.poll() is not None)
            if loaded.poll() is None:
                loaded.terminate()
                loaded.wait()
            if died or stopping:
                return died or 130
            if loaded.returncode == 0:
                print(f"  demo data ready in {time.monotonic() - t:.1f} s")
            else:  # the services are up all the same: say so rather than take them down
                print("  the demo data did not load completely (see above); the services keep running")
        print("\nThe platform is up:")
        for p in procs:
            extra = "" if "fake" in p.name else f"   (API docs {p.url}/docs, events {p.url}/asyncapi)"
            print(f"  {p.name:26} {p.url}{extra}")
        if any(p.name == "viewstats" for p in procs):
            print(f"  {'dashboard':26} http://127.0.0.1:8103/dashboard")
        if prometheus is not None:
            print(f"  {'prometheus':26} {prometheus.url}   (alerts {prometheus.url}/alerts)")
            print(f"  {'grafana dashboards':26} deploy/k8s/observability/dashboards/*.json (import; data source: it)")
        print(f"\nready in {time.monotonic() - begun:.1f} s. Ctrl-C (or `make stop`) stops everything.", flush=True)
        return supervise(children, lambda: stopping)
    finally:
        print("\nstopping services:")
        stop_all()
        if "XAPI_LRS_URL" not in os.environ:
            subprocess.run(["bash", str(CONTRACT_TOOLS), "ralph-stop"], env=_ralph_env(), cwd=ROOT)
        if prometheus is not None:
            prometheus.stop()
        SUPERVISOR.unlink(missing_ok=True)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("command", choices=["run", "stop"])
    parser.add_argument("--timeout", type=float, default=180)
    parser.add_argument("--no-demo", action="store_true", help="start empty: no demo data")
    args = parser.parse_args()
    if args.command == "stop":
        stop_supervisor()
        stop_all()  # what a supervisor killed hard left behind
        return 0
    return run(args.timeout, args.no_demo)


if __name__ == "__main__":
    sys.exit(main())
