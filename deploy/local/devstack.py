"""`make run`: start every service as its own process on loopback, wait until each /readyz is green, load the
demo data, print the URLs, and on Ctrl-C (or `make stop`) stop every process it started.

Services are started with uvicorn from their `create_app` factories. Once all are ready, deploy/local/demo.py
loads the demo dataset through their APIs (skipped where the data is already there). Kafka and FerretDB are started by
deploy/local/infra.sh before this runs.
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
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STATE = Path(os.environ.get("SMARTEDU_STATE", ROOT / ".cache" / "state"))
PIDS = STATE / "services.json"
PYTHON = sys.executable


@dataclass(frozen=True)
class Process:
    name: str
    factory: str  # module:function
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


PROCESSES = [
    Process("identity", "identity.app:create_app", 8102),
    Process("catalog", "catalog.app:create_app", 8101),
    Process("viewstats", "viewstats.app:create_app", 8103),
    Process("viewstats-collector", "viewstats.collector_app:create_app", 8113),
    Process("recommender", "recommender.app:create_app", 8104),
    Process("classgroups", "classgroups.app:create_app", 8105),
    Process("teacher-registry (fake)", "identity.registry:fake_registry_app", 8199),
]
URL = {p.name: p.url for p in PROCESSES}


def available(p: Process) -> bool:
    module = p.factory.split(":")[0]
    return importlib.util.find_spec(module) is not None


def env() -> dict[str, str]:
    e = dict(os.environ)
    e["PYTHONPATH"] = os.pathsep.join([str(ROOT / "libs"), str(ROOT / "services")])
    e.setdefault("LOG_JSON", "true")
    # the services find each other on loopback: tokens verified against identity's keys, the fake registry
    e.setdefault("AUTH_JWKS_URL", f"{URL['identity']}/.well-known/jwks.json")
    e.setdefault("IDENTITY_TEACHER_REGISTRY_URL", URL["teacher-registry (fake)"])
    e.setdefault("IDENTITY_BOOTSTRAP_ADMIN_PHONE", "13800000000")  # deploy/local/demo.py registers it
    return e


def start(procs: list[Process]) -> dict[str, subprocess.Popen]:
    logs = STATE / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    children: dict[str, subprocess.Popen] = {}
    for p in procs:
        log = open(logs / f"{p.name.split()[0]}.log", "ab")  # noqa: SIM115 - handed to the child process
        child = subprocess.Popen(
            [
                PYTHON,
                "-m",
                "uvicorn",
                "--factory",
                p.factory,
                "--host",
                "127.0.0.1",
                "--port",
                str(p.port),
                "--no-access-log",
                "--timeout-graceful-shutdown",
                "25",
            ],
            env=env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=ROOT,
        )
        children[p.name] = child
        print(f"  started {p.name:26} pid {child.pid:<7} log .cache/state/logs/{p.name.split()[0]}.log")
    PIDS.write_text(json.dumps({name: c.pid for name, c in children.items()}))
    return children


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
            try:
                os.killpg(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.2)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
    PIDS.unlink(missing_ok=True)


def run(timeout: float, skip_demo: bool) -> int:
    stop_all()  # a previous run killed hard may have left services behind
    procs = [p for p in PROCESSES if available(p)]
    started = time.monotonic()
    print("starting services:")
    children = start(procs)
    stopping = False

    def on_signal(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        pending = list(procs)
        while pending and not stopping:
            pending = [p for p in pending if not ready(p)]
            died = [p for p in procs if children[p.name].poll() is not None]
            if died:
                for p in died:
                    log = STATE / "logs" / f"{p.name.split()[0]}.log"
                    print(f"{p.name} exited during start-up; the end of {log}:")
                    print("\n".join(log.read_text(errors="replace").splitlines()[-15:]))
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
            loaded = subprocess.run([PYTHON, str(ROOT / "deploy" / "local" / "demo.py")], env=env(), cwd=ROOT)
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
        print(f"\nready in {time.monotonic() - started:.1f} s. Ctrl-C (or `make stop`) stops everything.", flush=True)
        while not stopping:
            time.sleep(0.5)
            if all(c.poll() is not None for c in children.values()):  # `make stop` from another terminal
                print("every service has stopped")
                return 0
        return 0
    finally:
        print("\nstopping services:")
        stop_all()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("command", choices=["run", "stop"])
    parser.add_argument("--timeout", type=float, default=180)
    parser.add_argument("--no-demo", action="store_true", help="start empty: no demo data")
    args = parser.parse_args()
    if args.command == "stop":
        stop_all()
        return 0
    return run(args.timeout, args.no_demo)


if __name__ == "__main__":
    sys.exit(main())
