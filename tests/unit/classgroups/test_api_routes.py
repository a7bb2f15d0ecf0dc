"""Class groups' routes, for the cost of a request: every dependency runs on the event loop (FastAPI runs a plain
``def`` dependency in a worker thread, a thread hop and a GIL hand-over on every request of the route: on check-in
submissions a share of each one's CPU, ``docs/BENCHMARKS.md``), and the routers' order (busiest first) decides no
request's route."""

from __future__ import annotations

import inspect
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from classgroups.api import routers
from common import access

pytestmark = pytest.mark.unit


def _calls(dependant: Dependant) -> Iterator[object]:
    for sub in dependant.dependencies:
        if sub.call is not None:
            yield sub.call
        yield from _calls(sub)


def test_no_route_depends_on_a_plain_function() -> None:
    app = FastAPI()
    for router in routers:
        app.include_router(router)
    found = {}
    routes = [r for r in access.routes(app) if isinstance(r.original_route, APIRoute)]
    assert len(routes) > 50
    for route in routes:
        for call in _calls(route.original_route.dependant):
            if not inspect.iscoroutinefunction(call):
                found[f"{sorted(route.methods)} {route.path}"] = getattr(call, "__qualname__", repr(call))
    assert found == {}


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
