"""The local supervisor (`make run`) reports a service that died instead of carrying on without it: a catalog
aborted by one request (tantivy, SIGABRT) once went unnoticed while `make run` kept running and said nothing."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.e2e


@pytest.fixture
def devstack(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("devstack", ROOT / "deploy/local/devstack.py")
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "devstack", module)  # its dataclasses look their module up
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "STATE", tmp_path)
    monkeypatch.setattr(module, "SUPERVISOR", tmp_path / "devstack.pid")
    (tmp_path / "logs").mkdir()
    return module


@pytest.fixture
def spawn(devstack):
    started: list[subprocess.Popen] = []

    def spawn(name: str, code: str):
        with open(devstack.log_of(name), "ab") as log:
            proc = subprocess.Popen([sys.executable, "-c", code], stdout=log, stderr=subprocess.STDOUT)
        started.append(proc)
        return devstack.Child(proc.pid)

    yield spawn
    for proc in started:
        proc.kill()
        proc.wait()


def test_a_service_that_dies_is_reported_and_the_platform_stops(devstack, spawn, capsys):
    aborts = (
        "import os; print('catalog started', flush=True); print('memory allocation failed', flush=True); os.abort()"
    )
    children = {
        "identity": spawn("identity", "import time; time.sleep(120)"),
        "catalog": spawn("catalog", aborts),
    }
    assert devstack.supervise(children, stopping=lambda: False, every=0.05) == 1
    out = capsys.readouterr().out
    assert f"catalog (pid {children['catalog'].pid}) died: killed by SIGABRT (signal 6, a shell reports 134)" in out
    assert "memory allocation failed" in out  # the end of its log
    assert "stopping the platform: catalog died" in out
    assert "identity" not in out.split("stopping the platform")[0]  # the living one is not reported


def test_an_exit_status_is_reported_as_such(devstack, spawn, capsys):
    children = {"recommender": spawn("recommender", "raise SystemExit(3)")}
    assert devstack.supervise(children, stopping=lambda: False, every=0.05) == 1
    assert "recommender" in capsys.readouterr().out and children["recommender"].how() == "exit status 3"


def test_a_requested_stop_is_not_a_death(devstack, spawn, capsys):
    children = {"identity": spawn("identity", "import time; time.sleep(120)")}
    assert devstack.supervise(children, stopping=lambda: True, every=0.05) == 0
    assert "died" not in capsys.readouterr().out


def test_make_stop_asks_the_running_supervisor_and_spares_an_unrelated_process(devstack):
    waits = (
        "import signal, sys, time; signal.signal(signal.SIGTERM, lambda *a: sys.exit(0)); print('up', flush=True); "
        "time.sleep(120)"
    )
    supervisor = subprocess.Popen(
        [sys.executable, "-c", waits, "deploy/local/devstack.py", "run"], stdout=subprocess.PIPE, text=True
    )
    assert supervisor.stdout.readline() == "up\n"  # its SIGTERM handler is in place
    unrelated = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        devstack.SUPERVISOR.write_text(str(unrelated.pid))  # a stale file naming a reused pid
        devstack.stop_supervisor(timeout=30)
        assert unrelated.poll() is None
        devstack.SUPERVISOR.write_text(str(supervisor.pid))
        devstack.stop_supervisor(timeout=30)
        with pytest.raises(ProcessLookupError):  # it was asked (SIGTERM), as Ctrl-C would, and was waited for
            os.kill(supervisor.pid, 0)
    finally:
        for proc in (supervisor, unrelated):
            proc.kill()
            proc.wait()
