"""A FastAPI route whose valid requests skip FastAPI's generic request handling: for a service's busiest routes.

FastAPI 0.165 solves every request of every route the same general way: it parses the Content-Type with
``email.message``, walks the dependency tree (for each dependant four parameter lists and a cache key, each
parameter's annotation inspected again on every request), then serialises. On class groups' check-in submissions
that was a fifth of the event loop's CPU per request (``docs/BENCHMARKS.md``, class groups).

:class:`DirectRoute` (``route_class_override=DirectRoute``) keeps the route as FastAPI declared it (its OpenAPI, its
access rule, its dependant, its fields) and answers the common case, a well-formed JSON request, with the same
steps in FastAPI's order and with FastAPI's own fields: the JSON body parsed as FastAPI parses it
(``Request.json``), the dependencies (coroutines of the request alone) called in declaration order, each path
parameter and the body validated by the route's own ``ModelField``, the endpoint called, its result validated and
serialised by the route's response field. **Anything else goes to FastAPI's own handler, before the endpoint runs**:
another Content-Type, an empty body, a body that is not JSON or does not read, any invalid field (so a 422 lists
every field as FastAPI lists them), dependency overrides. The answers are FastAPI's, byte for byte
(``tests/unit/common/test_direct_route.py`` sends the same requests to both). A route whose shape this does not
cover (query, header or cookie parameters, forms, nested or generator dependencies, response options, streams)
gets FastAPI's handler unchanged.

:class:`DirectLane` (``ServiceKit`` installs it as the innermost middleware) takes the next step, the routing: a
request for a direct route goes to that route without the router's walk through every route of every included
router (FastAPI 0.165 matches each route against an effective context, restoring scope keys as it goes). It takes
only what the router would give the same route: the routes before it in the app must all be fixed paths (no path
parameter, no mount), and a request for one of those paths is left to the router. Then it calls the route exactly as
the router's last step does (the route's own ``handle``, its effective context, ``scope["route"]``), inside the same
exception middleware as the router: the answers, errors included, are the router's
(``tests/unit/common/test_direct_route.py``).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import params
from fastapi.datastructures import DefaultPlaceholder
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import ResponseValidationError
from fastapi.middleware.asyncexitstack import AsyncExitStackMiddleware
from fastapi.routing import (
    _FASTAPI_EFFECTIVE_ROUTE_CONTEXT_KEY,
    APIRoute,
    _effective_route_context_var,
    _get_fastapi_scope,
    _update_scope,
    iter_route_contexts,
)
from fastapi.telemetry._api import _route_selected
from starlette._utils import get_route_path
from starlette.exceptions import HTTPException
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Route

JSON = "application/json"
Handler = Callable[[Request], Coroutine[Any, Any, Response]]


def _simple_dependency(sub: Dependant) -> bool:
    """A dependency that takes the request alone and is a coroutine function (no parameters, no sub-dependencies,
    no generator)."""
    return (
        sub.name is not None
        and sub.use_cache
        and inspect.iscoroutinefunction(sub.call)
        and not sub.dependencies
        and not (sub.path_params or sub.query_params or sub.header_params or sub.cookie_params or sub.body_params)
        and sub.request_param_name is not None
        and not (sub.websocket_param_name or sub.http_connection_param_name or sub.response_param_name)
        and not (sub.background_tasks_param_name or sub.security_scopes_param_name)
        and getattr(sub, "concurrency", None) is None
    )


class DirectRoute(APIRoute):
    """See the module docstring."""

    def get_route_handler(self) -> Handler:
        generic = super().get_route_handler()
        route: Any = self
        # FastAPI builds the handler of an included route from its effective context (the router's prefix and
        # dependencies combined): read the same one (``APIRoute.get_route_handler``).
        effective = _effective_route_context_var.get()
        if effective is not None and effective.original_route is self:
            route = effective
        return _direct(route, generic) or generic


def _direct(route: Any, generic: Handler) -> Handler | None:
    dependant: Dependant = route.dependant
    body_field = route.body_field
    response_field = route.response_field
    covered = (
        inspect.iscoroutinefunction(dependant.call)
        and all(_simple_dependency(sub) for sub in dependant.dependencies)
        and not (dependant.query_params or dependant.header_params or dependant.cookie_params)
        and not (dependant.websocket_param_name or dependant.http_connection_param_name)
        and not (dependant.response_param_name or dependant.background_tasks_param_name)
        and not dependant.security_scopes_param_name
        and len(dependant.body_params) <= 1
        and not route._embed_body_fields
        and (body_field is None or not isinstance(body_field.field_info, params.Form))
        and isinstance(route.response_class, DefaultPlaceholder)
        and response_field is not None
        and route.status_code is not None
        and route.response_model_include is None
        and route.response_model_exclude is None
        and route.response_model_by_alias
        and not (route.response_model_exclude_unset or route.response_model_exclude_defaults)
        and not route.response_model_exclude_none
        and route.stream_item_field is None
        and not route.is_json_stream
    )
    if not covered:
        return None
    call = dependant.call
    dependencies = [(sub.name, sub.call) for sub in dependant.dependencies]
    path_fields = [(field, field.alias) for field in dependant.path_params]
    request_name = dependant.request_param_name
    provider = route.dependency_overrides_provider
    status_code = route.status_code

    async def handler(request: Request) -> Response:
        if provider is not None and getattr(provider, "dependency_overrides", None):
            return await generic(request)
        body: Any = None
        if body_field is not None:
            if request.headers.get("content-type") != JSON:
                return await generic(request)
            try:
                raw = await request.body()
            except HTTPException:
                raise  # as FastAPI: e.g. the body limit's 413
            except Exception:
                return await generic(request)  # FastAPI's 400 for a body that does not read
            if not raw:
                return await generic(request)
            try:
                body = await request.json()  # FastAPI's own parse, kept by the request for a fallback
            except Exception:  # not JSON (FastAPI's 422), not UTF-8 (its 400): FastAPI's answer
                return await generic(request)
        values: dict[str, Any] = {}
        solved: dict[Any, Any] = {}  # one call per dependency and request, as FastAPI's cache
        for name, dependency in dependencies:  # before any field is validated, as FastAPI (e.g. 401 before 422)
            if dependency not in solved:
                solved[dependency] = await dependency(request)
            values[name] = solved[dependency]
        path = request.path_params
        for field, alias in path_fields:
            value, errors = field.validate(path[alias], {}, loc=("path", alias))
            if errors:
                return await generic(request)
            values[field.name] = value
        if body_field is not None:
            value, errors = body_field.validate(body, {}, loc=("body",))
            if errors:
                return await generic(request)
            values[body_field.name] = value
        if request_name:
            values[request_name] = request
        result = await call(**values)
        if isinstance(result, Response):
            return result
        value, errors = response_field.validate(result, {}, loc=("response",))
        if errors:
            raise ResponseValidationError(errors=errors, body=result)
        return Response(content=response_field.serialize_json(value), media_type=JSON, status_code=status_code)

    return handler


class DirectLane:
    """Pure ASGI, the innermost of the app's own middleware: requests for :class:`DirectRoute` routes skip the
    router (module docstring). ``app`` is the FastAPI application whose routes it reads, once, at its first
    request (every route is added by then)."""

    def __init__(self, inner: Any, app: Any) -> None:
        self.inner = inner
        self.fastapi = app
        self.lanes: list[tuple[Any, Any, APIRoute]] | None = None  # (matcher, effective context, route)
        self.fixed: frozenset[str] = frozenset()
        self.routed: Any = None

    def _build(self) -> None:
        lanes, fixed = [], set()
        for context in iter_route_contexts(self.fastapi.routes):
            route, effective = context.original_route, context._route_context
            if isinstance(route, DirectRoute) and (effective is None or effective.starlette_route is None):
                lanes.append((effective or route, effective, route))
                continue
            matcher = effective if effective is not None else route
            if not isinstance(route, Route) or getattr(matcher, "param_convertors", None):
                break  # a route that could match what a later one matches: the order is the router's to apply
            fixed.add(matcher.path)
        # The same exception handling as the router's (FastAPI's ``build_middleware_stack``), around the route.
        handlers = {k: v for k, v in self.fastapi.exception_handlers.items() if k not in (500, Exception)}
        self.routed = ExceptionMiddleware(
            AsyncExitStackMiddleware(self._route), handlers=handlers, debug=self.fastapi.debug
        )
        self.lanes, self.fixed = lanes, frozenset(fixed)

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            if self.lanes is None:
                self._build()
            if self.lanes and get_route_path(scope) not in self.fixed:
                for matcher, effective, route in self.lanes:
                    match, child = matcher.matches(scope)
                    if match == Match.FULL:
                        _update_scope(scope, child)
                        _route_selected(scope=scope, path=matcher.path_format)
                        if effective is not None:
                            _get_fastapi_scope(scope)[_FASTAPI_EFFECTIVE_ROUTE_CONTEXT_KEY] = effective
                        scope["route"] = route
                        scope.setdefault("router", self.fastapi.router)
                        await self.routed(scope, receive, send)
                        return
        await self.inner(scope, receive, send)

    @staticmethod
    async def _route(scope: dict, receive: Any, send: Any) -> None:
        await scope["route"].handle(scope, receive, send)
