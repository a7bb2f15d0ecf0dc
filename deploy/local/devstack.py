"""`make run`: start every service as its own process on loopback, wait until each /readyz is green, load the
demo data, print the URLs, and on Ctrl-C (or `make stop`) stop every process it started.

Services are started with uvicorn from their `create_app` factories. A service that ships a demo loader
(`python -m <package>.demo --base-url URL`) gets it run once it is ready. Kafka and FerretDB are started by
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
    demo: str | None = None  # module with a demo loader

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


PROCESSES = [
    Process("catalog", "catalog.app:create_app", 8101, demo="catalog.demo"),
    Process("identity", "identity.app:create_app", 8102, demo="identity.demo"),
    Process("viewstats", "viewstats.app:create_app", 8103, demo="viewstats.demo"),
    Process("viewstats-collector", "viewstats.collector_app:create_app", 8113),
    Process("recommender", "recommender.app:create_app", 8104),
    Process("classgroups", "classgroups.app:create_app", 8105),
    Process("teacher-registry (fake)", "identity.fake_registry:create_app", 8199),
]


def available(p: Process) -> bool:
    module = p.factory.split(":")[0]
    return importlib.util.find_spec(module) is not None


def env() -> dict[str, str]:
    e = dict(os.environ)
    e["PYTHONPATH"] = os.pathsep.join([str(ROOT / "libs"), str(ROOT / "services")])
    e.setdefault("LOG_JSON", "true")
    return e


def start(procs: list[Process]) -> dict[str, int]:
    logs = STATE / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    pids = {}
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
        pids[p.name] = child.pid
        print(f"  started {p.name:26} pid {child.pid:<7} log .cache/state/logs/{p.name.split()[0]}.log")
    PIDS.write_text(json.dumps(pids))
    return pids


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


def run(timeout: float) -> int:
    stop_all()  # a previous run killed hard may have left services behind
    procs = [p for p in PROCESSES if available(p)]
    started = time.monotonic()
    print("starting services:")
    start(procs)
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
            if time.monotonic() - started > timeout:
                print(f"not ready after {timeout:.0f} s: {', '.join(p.name for p in pending)} (see their logs)")
                return 1
            time.sleep(0.5)
        if stopping:
            return 130
        print(f"all {len(procs)} processes ready in {time.monotonic() - started:.1f} s")
        for p in procs:
            if p.demo and importlib.util.find_spec(p.demo) is not None:
                t = time.monotonic()
                print(f"loading demo data into {p.name} …", flush=True)
                subprocess.run([PYTHON, "-m", p.demo, "--base-url", p.url], env=env(), cwd=ROOT, check=True)
                print(f"  {p.name} demo data loaded in {time.monotonic() - t:.1f} s")
        print("\nThe platform is up:")
        for p in procs:
            extra = "" if "fake" in p.name else f"   (API docs {p.url}/docs, events {p.url}/asyncapi)"
            print(f"  {p.name:26} {p.url}{extra}")
        if any(p.name == "viewstats" for p in procs):
            print(f"  {'dashboard':26} http://127.0.0.1:8103/dashboard")
        print(f"\nready in {time.monotonic() - started:.1f} s. Ctrl-C (or `make stop`) stops everything.", flush=True)
        while not stopping:
            time.sleep(0.5)
        return 0
    finally:
        print("\nstopping services:")
        stop_all()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("command", choices=["run", "stop"])
    parser.add_argument("--timeout", type=float, default=180)
    args = parser.parse_args()
    if args.command == "stop":
        stop_all()
        return 0
    return run(args.timeout)


if __name__ == "__main__":
    sys.exit(main())
