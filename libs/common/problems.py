"""RFC 9457 problem details for every 4xx and 5xx the platform answers.

Domain code raises a :class:`common.errors.DomainError`, which becomes a problem here (HTTP code may raise
:class:`Problem` itself); request validation errors become a 422 listing each field; anything
unexpected becomes a 500 problem that reveals nothing internal (the trace id lets an SRE find the log line).
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from opentelemetry import trace
from starlette.exceptions import HTTPException as StarletteHTTPException

from common.errors import DomainError, Limited
from common.observability import TRACE_ID_KEY

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://smartedu.cn/problems/"

log = logging.getLogger("common.problems")


class Problem(Exception):
    """An error the client can act on. ``code`` is a stable machine-readable reason (e.g. ``token_expired``);
    ``errors`` lists field-level problems as ``{"field": "a.b", "message": "…", "code": "…"}``."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str | None = None,
        *,
        errors: list[dict[str, Any]] | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail or title)
        self.status = status
        self.title = title
        self.detail = detail
        self.errors = errors
        self.code = code
        self.headers = headers
        self.extensions = extensions

    def body(self, instance: str | None = None) -> dict[str, Any]:
        slug = self.code or HTTPStatus(self.status).phrase.lower().replace(" ", "-")
        body: dict[str, Any] = {"type": TYPE_BASE + slug, "title": self.title, "status": self.status}
        if self.detail:
            body["detail"] = self.detail
        if instance:
            body["instance"] = instance
        if self.code:
            body["code"] = self.code
        if self.errors is not None:
            body["errors"] = self.errors
        body.update(self.extensions)
        return body


class BodyTooLarge(StarletteHTTPException):
    """A request body over its route's limit (common.bodylimit). An HTTPException so that FastAPI, which turns any
    other error while reading a body into a 400, lets it through to the problem handler."""

    def __init__(self, limit: int) -> None:
        super().__init__(413)
        self.limit = limit

    def problem(self) -> Problem:
        return Problem(
            413,
            "Content Too Large",
            f"The request body exceeds this route's limit of {self.limit} bytes.",
            code="body-too-large",
            headers={"Connection": "close"},
            max_bytes=self.limit,
        )


def problem_response(problem: Problem, request: Request | None = None) -> JSONResponse:
    instance = request.url.path if request is not None else None
    return JSONResponse(
        problem.body(instance), status_code=problem.status, media_type=PROBLEM_JSON, headers=problem.headers
    )


def field_errors(errors: Any) -> list[dict[str, Any]]:
    """pydantic/FastAPI validation errors as ``{field, message, code}``, the location joined with dots
    (the leading ``body``/``query``/``path`` kept, so a client knows where to look)."""
    return [
        {"field": ".".join(str(p) for p in e.get("loc", ())), "message": e.get("msg", ""), "code": e.get("type", "")}
        for e in errors
    ]


PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "RFC 9457 problem details; `code` is a stable machine-readable reason, `errors` lists fields.",
    "type": "object",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "code": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}, "code": {"type": "string"}},
            },
        },
    },
}


def document_problems(app: FastAPI) -> None:
    """Make the OpenAPI document say what the handlers below answer: FastAPI documents its own 422 body
    (``{"detail": [...]}``), which no route returns. Every operation's 422 and its ``default`` response become a
    problem+json :data:`PROBLEM_SCHEMA`, so clients (and the adversarial suite's schema checks) see the truth."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = build()
        schemas = schema.setdefault("components", {}).setdefault("schemas", {})
        schemas.pop("HTTPValidationError", None)
        schemas.pop("ValidationError", None)
        schemas["Problem"] = PROBLEM_SCHEMA
        problem = {"content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}}
        for item in schema.get("paths", {}).values():
            for operation in item.values():
                responses = operation.get("responses") if isinstance(operation, dict) else None
                if responses is None:
                    continue
                if "422" in responses:
                    responses["422"] = {"description": "Invalid request: each field in `errors`", **problem}
                responses.setdefault("default", {"description": "Error (RFC 9457 problem details)", **problem})
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def problem_of(error: DomainError) -> Problem:
    """The problem a refused domain command answers with: the fields it lists, or the one it names, as field-level
    errors."""
    errors = error.errors
    if errors is None and error.field:
        errors = [{"field": error.field, "message": error.message, "code": error.code}]
    headers = {"Retry-After": str(error.retry_after)} if isinstance(error, Limited) and error.retry_after else None
    return Problem(
        error.status, error.title, error.message, errors=errors, code=error.code, headers=headers, **error.details
    )


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_response(exc, request)

    @app.exception_handler(DomainError)
    async def _refused(request: Request, exc: DomainError) -> JSONResponse:
        return problem_response(problem_of(exc), request)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = field_errors(exc.errors())
        return problem_response(
            Problem(
                422, "Invalid request", f"{len(errors)} field(s) are invalid", errors=errors, code="validation-failed"
            ),
            request,
        )

    @app.exception_handler(BodyTooLarge)
    async def _too_large(request: Request, exc: BodyTooLarge) -> JSONResponse:
        return problem_response(exc.problem(), request)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        title = HTTPStatus(exc.status_code).phrase
        detail = exc.detail if isinstance(exc.detail, str) and exc.detail != title else None
        return problem_response(Problem(exc.status_code, title, detail, headers=exc.headers), request)

    from common.store import STORE_UNAVAILABLE

    install_unavailable(app, STORE_UNAVAILABLE, "The store is not reachable; try again shortly.", "store-unavailable")

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        number = request.scope.get(TRACE_ID_KEY) or trace.get_current_span().get_span_context().trace_id
        trace_id = f"{number:032x}" if number else None
        # the span has ended here, so the log line names its trace itself
        log.exception("unhandled error on %s %s (trace %s)", request.method, request.url.path, trace_id)
        return problem_response(
            Problem(
                500,
                "Internal Server Error",
                "The error was logged; quote the trace id when reporting it.",
                trace_id=trace_id,
            ),
            request,
        )


def install_unavailable(app: FastAPI, errors: tuple[type[Exception], ...], detail: str, code: str) -> None:
    """``errors`` (a backing system that does not answer: the database, an object store) become a 503 problem with
    ``Retry-After``: the client retries, an SRE finds the logged cause."""

    async def _unavailable(request: Request, exc: Exception) -> JSONResponse:
        log.warning("%s on %s %s: %s", code, request.method, request.url.path, exc)
        problem = Problem(503, "Service Unavailable", detail, code=code, headers={"Retry-After": "5"})
        return problem_response(problem, request)

    for error in errors:
        app.add_exception_handler(error, _unavailable)
