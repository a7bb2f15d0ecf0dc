"""Where the operators' tools are: provisioned by `make ops-tools` (deploy/local/ops-tools.sh) into .cache/."""

from __future__ import annotations

import functools
import importlib.util
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
OPS_TOOLS = ROOT / "deploy" / "local" / "ops-tools.sh"


@functools.cache
def tool_paths(script: Path = OPS_TOOLS) -> dict[str, Path]:
    """What ``<script> env`` exports: SMARTEDU_KUSTOMIZE, SMARTEDU_KUBEVAL_PYTHON, SMARTEDU_CRDS, SMARTEDU_PROMETHEUS,
    SMARTEDU_PROMTOOL (ops-tools.sh); the contract tools' script exports its own (tests/contracts/tools.py)."""
    out = subprocess.run(["bash", str(script), "env"], capture_output=True, text=True, check=True).stdout
    return {
        name: Path(os.environ.get(name, value))
        for name, _, value in (word.partition("=") for word in shlex.split(out) if "=" in word)
    }


def tool(name: str, script: Path = OPS_TOOLS, target: str = "ops-tools") -> Path:
    """The path of a provisioned tool; without it the test fails in CI (`make test` provisions every tool) and is
    skipped elsewhere, with the command that provisions it."""
    path = tool_paths(script)[name]
    if not path.exists():
        message = f"{path} is missing: run `make {target}` ({script.relative_to(ROOT)} provision)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


def load_prometheus_local() -> Any:
    """deploy/local/prometheus_local.py (not a package: make run loads it as a script's neighbour)."""
    if "prometheus_local" not in sys.modules:
        spec = importlib.util.spec_from_file_location("prometheus_local", ROOT / "deploy/local/prometheus_local.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules["prometheus_local"] = module  # its dataclasses look their module up
        spec.loader.exec_module(module)
    return sys.modules["prometheus_local"]


def eventually(check: Callable[[], Any], timeout: float = 120, every: float = 1.0) -> Any:
    """Poll until ``check()`` is True; its last value otherwise (what the assertion shows)."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last is True:
            return True
        time.sleep(every)
    return last
