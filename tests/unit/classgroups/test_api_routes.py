"""Class groups' routers, for the cost of a request: their order (busiest first) decides no request's route. (That
every dependency runs on the event loop is checked for every service in ``tests/unit/common/
test_route_dependencies.py``.)"""

from __future__ import annotations

import pytest

from classgroups.api import routers

pytestmark = pytest.mark.unit


def _overlap(a: str, b: str) -> bool:
    """Whether one request path could match both templates (a ``{param}`` matches any one segment)."""
    left, right = a.strip("/").split("/"), b.strip("/").split("/")
    return len(left) == len(right) and all(x == y or "{" in x or "{" in y for x, y in zip(left, right, strict=True))


def test_no_path_matches_routes_of_two_routers() -> None:
    """So the order of ``routers`` (busiest first) changes which route answers no request."""
    clashes = [
        (a.path, b.path)
        for i, first in enumerate(routers)
        for second in routers[i + 1 :]
        for a in first.routes
        for b in second.routes
        if _overlap(a.path, b.path)
    ]
    assert clashes == []
