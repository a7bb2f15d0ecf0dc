"""Class groups' routers, for the cost of a request: their order (busiest first) decides no request's route. (That
every dependency runs on the event loop is checked for every service in ``tests/unit/common/
test_route_dependencies.py``.)"""

from __future__ import annotations

import pytest

from classgroups.api import checkins, routers
from classgroups.app import create_app
from common import access, direct_route
from common.direct_route import DirectRoute

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


def test_the_submission_route_is_matched_first_and_no_other_route_of_its_router_could_answer_it() -> None:
    first = checkins.router.routes[0]
    assert (first.path, first.methods) == ("/v1/classes/{class_id}/checkin-tasks/{task_id}/submissions", {"POST"})
    assert [
        r.path for r in checkins.router.routes[1:] if _overlap(r.path, first.path) and r.methods & first.methods
    ] == []


def test_a_well_formed_submission_is_answered_without_fastapis_generic_handler() -> None:
    """``common.direct_route`` covers the route as the app includes it (``tests/unit/common/test_direct_route.py``
    shows the answers are FastAPI's); a change of its signature that it does not cover would fail here, not
    silently cost the generic handler's CPU again."""
    app = create_app()
    (route,) = [r for r in access.routes(app) if r.path.endswith("/submissions") and "POST" in r.methods]
    assert isinstance(route.original_route, DirectRoute)
    assert direct_route._direct(route, route.original_route.get_route_handler()) is not None


def test_a_submission_skips_the_router() -> None:
    """``common.direct_route.DirectLane`` takes the submission route past the router only while every route ahead of
    it in the app has a fixed path: a route with path parameters added ahead would fail here, not silently cost the
    router's walk again."""
    app = create_app()
    lane = direct_route.DirectLane(None, app)
    lane._build()
    assert [route.path for _, _, route in lane.lanes] == ["/v1/classes/{class_id}/checkin-tasks/{task_id}/submissions"]
    assert "/healthz" in lane.fixed and all("{" not in path for path in lane.fixed)
