"""Where the contract tools are: provisioned by `make contract-tools` (deploy/local/contract-tools.sh) into .cache/."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.ops import tools as ops_tools

ROOT = ops_tools.ROOT
CONTRACT_TOOLS = ROOT / "deploy" / "local" / "contract-tools.sh"


def tool_paths() -> dict[str, Path]:
    """SMARTEDU_ASYNCAPI, SMARTEDU_ASYNCAPI_HOME, SMARTEDU_RALPH."""
    return ops_tools.tool_paths(CONTRACT_TOOLS)


def tool(name: str) -> Path:
    """The provisioned tool's path (skipped without it, failed in CI: ``tests.ops.tools.tool``)."""
    return ops_tools.tool(name, CONTRACT_TOOLS, "contract-tools")


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
