"""``common.direct_route.DirectRoute`` answers as FastAPI's own handler does: the same requests, valid and not, sent
to the same route built twice, once with FastAPI's handler (``_direct`` disabled) and once direct; status, headers
and body must be equal, byte for byte (errors included: problem+json, field by field, 401 before 422)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI, Path, Request
from pydantic import BaseModel, ConfigDict, Field

from common import direct_route
from common.direct_route import DirectLane, DirectRoute
from common.problems import Problem, install_problem_handlers

pytestmark = pytest.mark.unit


class Item(BaseModel):
    model_config = ConfigDict(extra="forbid")
    key: str = Field(min_length=1, max_length=30)
    kind: Literal["photo", "video"]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")
    who: str | None = Field(None, pattern=r"^[a-z]{1,8}$")
    day: date
    text: str = Field("", max_length=20)
    items: list[Item] = Field(default_factory=list, max_length=2)


Cls = Annotated[str, Path(pattern=r"^cls-[0-9a-f]{4}$")]
Task = Annotated[str, Path(min_length=1, max_length=10, pattern=r"^[a-z0-9-]+$")]
calls: list[str] = []


async def caller(request: Request) -> str:
    calls.append("caller")
    token = request.headers.get("authorization")
    if token is None:
        raise Problem(401, "Unauthorized", "A Bearer access token is required.", code="missing")
    if token == "Bearer teapot":
        raise ValueError("the caller's store is down")
    return token.removeprefix("Bearer ")


Caller = Annotated[str, Depends(caller)]


async def submit(cls: Cls, task: Task, body: Body, who: Caller, also: Caller, request: Request) -> dict[str, Any]:
    if body.text == "conflict":
        raise Problem(409, "Conflict", "checked in already", code="already_submitted")
    if body.text == "as-response":
        from starlette.responses import PlainTextResponse

        return PlainTextResponse("made by the endpoint", status_code=202)  # type: ignore[return-value]
    return {
        "cls": cls,
        "task": task,
        "who": who,
        "same": who == also,
        "body": body.model_dump(),
        "at": datetime(2026, 12, 3, 7, 45, 23, 123000, tzinfo=UTC),
        "path": request.url.path,
    }


def app(before: list[tuple[str, list[str]]] | None = None) -> FastAPI:
    """The direct route under an included router's prefix; ``before``: routes (path, methods) added ahead of it,
    each answering ``{"fixed": path}``."""
    built = FastAPI()
    install_problem_handlers(built)
    for path, methods in before or []:

        async def fixed(request: Request) -> dict[str, Any]:
            return {"fixed": request.url.path}

        built.add_api_route(path, fixed, methods=methods)
    router = APIRouter(prefix="/v1/classes/{cls}")
    router.add_api_route(
        "/tasks/{task}/submissions", submit, methods=["POST"], status_code=201, route_class_override=DirectRoute
    )
    built.include_router(router)
    return built


GOOD = b'{"day": "2026-12-01", "text": "swept", "items": [{"key": "k1", "kind": "photo"}]}'
PATH = "/v1/classes/cls-00ab/tasks/t-1/submissions"
AUTH = {"authorization": "Bearer stu", "content-type": "application/json"}
JSON_ONLY = {"content-type": "application/json"}

CASES: list[tuple[str, str, dict[str, str], bytes]] = [
    ("valid", PATH, AUTH, GOOD),
    ("valid, defaults", PATH, AUTH, b'{"day": "2026-12-01"}'),
    ("the endpoint's refusal", PATH, AUTH, b'{"day": "2026-12-01", "text": "conflict"}'),
    ("the endpoint's own response", PATH, AUTH, b'{"day": "2026-12-01", "text": "as-response"}'),
    ("no token", PATH, JSON_ONLY, GOOD),
    ("no token, invalid body", PATH, JSON_ONLY, b'{"day": "x", "extra": 1}'),
    ("no token, not JSON", PATH, JSON_ONLY, b'{"day": '),
    ("not JSON", PATH, AUTH, b'{"day": '),
    ("JSON with a NaN", PATH, AUTH, b'{"day": "2026-12-01", "text": NaN}'),
    ("a JSON array", PATH, AUTH, b"[1, 2]"),
    ("JSON null", PATH, AUTH, b"null"),
    ("empty body", PATH, AUTH, b""),
    ("extra field", PATH, AUTH, b'{"day": "2026-12-01", "extra": true}'),
    ("wrong types", PATH, AUTH, b'{"day": 5, "text": 7, "items": {"key": 1}}'),
    (
        "too many items, too long",
        PATH,
        AUTH,
        b'{"day": "2026-12-01", "text": "' + b"x" * 30 + b'", "items": '
        b'[{"key": "a", "kind": "photo"}, {"key": "b", "kind": "audio"}, {"key": "", "kind": "video"}]}',
    ),
    ("a bad path", "/v1/classes/cls-zz/tasks/T!/submissions", AUTH, GOOD),
    ("a bad path and a bad body", "/v1/classes/cls-zz/tasks/t-1/submissions", AUTH, b'{"day": "x"}'),
    ("text/plain", PATH, {"authorization": "Bearer stu", "content-type": "text/plain"}, GOOD),
    (
        "JSON with a charset",
        PATH,
        {"authorization": "Bearer stu", "content-type": "application/json; charset=utf-8"},
        GOOD,
    ),
    ("problem+json", PATH, {"authorization": "Bearer stu", "content-type": "application/merge-patch+json"}, GOOD),
    ("no content type", PATH, {"authorization": "Bearer stu"}, GOOD),
    ("UTF-16", PATH, AUTH, GOOD.decode().encode("utf-16")),
    ("a body in Latin-1", PATH, AUTH, '{"day": "2026-12-01", "text": "été"}'.encode("latin-1")),
    ("GET", PATH, AUTH, b""),
]


async def call(application: FastAPI, path: str, headers: dict[str, str], body: bytes, method: str) -> Any:
    transport = httpx.ASGITransport(app=application, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
        r = await client.request(method, path, headers=headers, content=body)
    return r.status_code, sorted(r.headers.items()), r.content


async def answers(
    direct: bool, path: str, headers: dict[str, str], body: bytes, method: str, application: FastAPI | None = None
) -> Any:
    """One request to the route: direct, or FastAPI's handler alone (FastAPI builds handlers lazily: the switch is
    held for the whole request)."""
    with pytest.MonkeyPatch.context() as m:
        if not direct:
            m.setattr(direct_route, "_direct", lambda route, generic: None)
        return await call(application or app(), path, headers, body, method)


@pytest.mark.parametrize(("name", "path", "headers", "body"), CASES, ids=[c[0] for c in CASES])
async def test_the_same_answer_as_fastapis_handler(name: str, path: str, headers: dict[str, str], body: bytes) -> None:
    method = "GET" if name == "GET" else "POST"
    generic = await answers(False, path, headers, body, method)
    direct = await answers(True, path, headers, body, method)
    assert direct == generic
    if name == "valid":
        assert direct[0] == 201 and b'"at":"2026-12-03T07:45:23.123000Z"' in direct[2] and b'"same":true' in direct[2]


async def test_a_failing_dependency_raises_as_in_fastapi(monkeypatch: pytest.MonkeyPatch) -> None:
    for direct in (False, True):
        status, _, _ = await answers(direct, PATH, {**AUTH, "authorization": "Bearer teapot"}, GOOD, "POST")
        assert status == 500


async def test_the_valid_case_is_answered_directly_and_a_dependency_runs_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls.clear()
    assert (await answers(True, PATH, AUTH, GOOD, "POST"))[0] == 201
    assert calls == ["caller"]  # FastAPI's generic handler would have run, and cached, it as well: not told apart
    # an invalid field falls back to FastAPI's handler, which lists every field
    calls.clear()
    status, _, content = await answers(True, PATH, AUTH, b'{"day": "x", "text": 5}', "POST")
    assert status == 422 and b"body.day" in content and b"body.text" in content
    assert calls == ["caller", "caller"]  # the direct attempt, then FastAPI's
    calls.clear()
    await answers(False, PATH, AUTH, b'{"day": "x", "text": 5}', "POST")
    assert calls == ["caller"]  # the comparison's other app is FastAPI's handler alone


async def test_dependency_overrides_go_through_fastapi(monkeypatch: pytest.MonkeyPatch) -> None:
    application = app()

    async def someone(request: Request) -> str:
        return "override"

    application.dependency_overrides[caller] = someone
    status, _, content = await answers(True, PATH, JSON_ONLY, GOOD, "POST", application)
    assert status == 201 and b'"who":"override"' in content


def test_routes_it_does_not_cover_get_fastapis_handler() -> None:
    async def with_query(q: int, body: Body) -> dict[str, Any]:
        return {}

    router = APIRouter(route_class=DirectRoute)
    router.add_api_route("/q", with_query, methods=["POST"], status_code=201)
    route = router.routes[0]
    assert direct_route._direct(route, route.get_route_handler()) is None
    router.add_api_route("/ok", submit, methods=["POST"], status_code=201)
    route = router.routes[1]
    assert direct_route._direct(route, route.get_route_handler()) is not None


# --- DirectLane: the routing step skipped ----------------------------------------------------------------
class Seen:
    """The router's side of a lane: whether a request reached it, and the route template a middleware outside the
    lane saw (what ``ObservabilityMiddleware`` labels its metrics and spans with)."""

    def __init__(self) -> None:
        self.routed: list[str] = []
        self.templates: list[str | None] = []


def laned(before: list[tuple[str, list[str]]] | None = None) -> tuple[FastAPI, Seen]:
    """``app(before)`` with the lane, as ``ServiceKit`` installs it."""
    seen = Seen()
    built = app(before)

    class Router:
        def __init__(self, inner: Any) -> None:
            self.inner = inner

        async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
            seen.routed.append(scope["path"])
            await self.inner(scope, receive, send)

    class Outside:
        def __init__(self, inner: Any) -> None:
            self.inner = inner

        async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
            await self.inner(scope, receive, send)
            seen.templates.append(getattr(scope.get("route"), "path", None))

    built.add_middleware(Router)  # the innermost: what the lane passes on goes to the router through it
    built.add_middleware(DirectLane, app=built)
    built.add_middleware(Outside)
    return built, seen


@pytest.mark.parametrize(("name", "path", "headers", "body"), CASES, ids=[c[0] for c in CASES])
async def test_the_lane_answers_as_the_router(name: str, path: str, headers: dict[str, str], body: bytes) -> None:
    method = "GET" if name == "GET" else "POST"
    application, seen = laned()
    assert await call(application, path, headers, body, method) == await call(app(), path, headers, body, method)
    if name == "GET":  # the method is not the route's: the router answers (405)
        assert seen.routed == [path]
    elif name.startswith("a bad path"):
        assert seen.routed == []  # the route's own path fields refuse it, as behind the router
    else:
        assert seen.routed == [] and seen.templates == ["/v1/classes/{cls}/tasks/{task}/submissions"]


async def test_a_failing_dependency_is_the_servers_500_through_the_lane() -> None:
    application, seen = laned()
    status, _, _ = await call(application, PATH, {**AUTH, "authorization": "Bearer teapot"}, GOOD, "POST")
    assert status == 500 and seen.routed == []


async def test_a_fixed_route_ahead_keeps_its_path() -> None:
    """A fixed path that the direct route's pattern also matches is the router's: the route ahead answers it."""
    application, seen = laned([(PATH, ["POST"]), ("/healthz", ["GET"])])
    status, _, body = await call(application, PATH, AUTH, GOOD, "POST")
    assert (status, body, seen.routed) == (200, b'{"fixed":"%s"}' % PATH.encode(), [PATH])
    other = "/v1/classes/cls-00cd/tasks/t-1/submissions"
    assert (await call(application, other, AUTH, GOOD, "POST"))[0] == 201
    assert seen.routed == [PATH]  # the other class's went by the lane


async def test_no_lane_behind_a_route_with_parameters() -> None:
    """A route ahead with path parameters could match what the direct route matches: the order stays the router's."""
    application, seen = laned([("/v1/classes/{cls}/tasks/{task}/submissions", ["POST"])])
    status, _, body = await call(application, PATH, AUTH, GOOD, "POST")
    assert (status, body, seen.routed) == (200, b'{"fixed":"%s"}' % PATH.encode(), [PATH])
