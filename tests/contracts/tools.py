"""Where the contract tools are: provisioned by `make contract-tools` (deploy/local/contract-tools.sh) into .cache/."""

from __future__ import annotations

import functools
import os
import shlex
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONTRACT_TOOLS = ROOT / "deploy" / "local" / "contract-tools.sh"


@functools.cache
def tool_paths() -> dict[str, Path]:
    """SMARTEDU_ASYNCAPI, SMARTEDU_ASYNCAPI_HOME, SMARTEDU_RALPH."""
    out = subprocess.run(["bash", str(CONTRACT_TOOLS), "env"], capture_output=True, text=True, check=True).stdout
    return {
        name: Path(os.environ.get(name, value))
        for name, _, value in (word.partition("=") for word in shlex.split(out) if "=" in word)
    }


def tool(name: str) -> Path:
    """The path of a provisioned tool; without it the test fails in CI (`make test` provisions every tool) and is
    skipped elsewhere, with the command that provisions it."""
    path = tool_paths()[name]
    if not path.exists():
        message = f"{path} is missing: run `make contract-tools` (deploy/local/contract-tools.sh provision)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


def asyncapi_validate(spec: str) -> subprocess.CompletedProcess[str]:
    """``asyncapi validate`` by the AsyncAPI project's CLI, failing on errors and warnings (an "information" that
    a newer AsyncAPI version exists is not a failure). Analytics are off (its config is in its own home)."""
    env = {
        **os.environ,
        "HOME": str(tool_paths()["SMARTEDU_ASYNCAPI_HOME"]),
        "SUPPRESS_NO_CONFIG_WARNING": "1",
    }
    return subprocess.run(
        [str(tool("SMARTEDU_ASYNCAPI")), "validate", spec, "--fail-severity", "warn"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def ralph(command: str) -> str:
    """``contract-tools.sh ralph-<command>`` (start, stop, env, status) on the Ralph the test run uses."""
    return subprocess.run(
        ["bash", str(CONTRACT_TOOLS), f"ralph-{command}"], capture_output=True, text=True, check=True, timeout=300
    ).stdout
