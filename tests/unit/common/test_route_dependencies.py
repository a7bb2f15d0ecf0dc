"""Every dependency of every route of every service runs on the event loop. FastAPI runs a plain ``def`` dependency
(or a class used as one) in a worker thread: a thread hop and a GIL hand-over on every request of the route. On
check-in submissions that was a measurable share of each request's CPU (``docs/BENCHMARKS.md``, class groups); a new
route with such a dependency fails here before it ships."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Iterator

import pytest
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from common import access
from common.topics import PRINCIPALS

pytestmark = pytest.mark.unit

APPS = sorted({p.factory.split(":")[0] for p in PRINCIPALS})


def _calls(dependant: Dependant) -> Iterator[object]:
    for sub in dependant.dependencies:
        if sub.call is not None:
            yield sub.call
        yield from _calls(sub)


def _on_the_loop(call: object) -> bool:
    """What FastAPI awaits rather than hands to a thread: a coroutine function or an async generator, or an object
    whose ``__call__`` is one (e.g. ``HTTPBearer()``)."""
    dunder_call = None if inspect.isclass(call) else type(call).__call__  # a class's own __call__ is not what runs
    return any(inspect.iscoroutinefunction(c) or inspect.isasyncgenfunction(c) for c in (call, dunder_call))


@pytest.mark.parametrize("module", APPS)
def test_no_route_depends_on_a_plain_function(module: str) -> None:
    app = importlib.import_module(module).create_app()
    routes = [r.original_route for r in access.routes(app) if isinstance(r.original_route, APIRoute)]
    assert routes, f"{module} has no routes"
    found = {
        f"{sorted(route.methods)} {route.path}": getattr(call, "__qualname__", repr(call))
        for route in routes
        for call in _calls(route.dependant)
        if not _on_the_loop(call)
    }
    assert found == {}
