"""Where the operators' tools are: provisioned by `make ops-tools` (deploy/local/ops-tools.sh) into .cache/."""

from __future__ import annotations

import functools
import os
import shlex
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OPS_TOOLS = ROOT / "deploy" / "local" / "ops-tools.sh"


@functools.cache
def tool_paths() -> dict[str, Path]:
    """SMARTEDU_KUSTOMIZE, SMARTEDU_KUBEVAL_PYTHON, SMARTEDU_CRDS, SMARTEDU_PROMETHEUS, SMARTEDU_PROMTOOL."""
    out = subprocess.run(["bash", str(OPS_TOOLS), "env"], capture_output=True, text=True, check=True).stdout
    return {
        name: Path(os.environ.get(name, value))
        for name, _, value in (word.partition("=") for word in shlex.split(out) if "=" in word)
    }


def tool(name: str) -> Path:
    """The path of a provisioned tool; without it the test fails in CI (`make test` provisions every tool) and is
    skipped elsewhere, with the command that provisions it."""
    path = tool_paths()[name]
    if not path.exists():
        message = f"{path} is missing: run `make ops-tools` (deploy/local/ops-tools.sh provision)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path
