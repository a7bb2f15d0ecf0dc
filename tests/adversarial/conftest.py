"""One platform for the whole adversarial tier: started once, stopped when the tier's last test ran."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.adversarial.platform import Platform, start_platform


@pytest.fixture(scope="package")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    log_dir: Path = tmp_path_factory.mktemp("adversarial-logs")
    running, processes = start_platform(log_dir, uuid.uuid4().hex[:8])
    yield running
    for sp in processes:
        sp.kill(15)
