"""Request-body size limit for every service, enforced while the body streams in.

A request whose ``Content-Length`` exceeds its route's limit is answered 413 before a byte of its body is read.
A body without a length (chunked) is counted as the application reads it, and the read that would cross the limit
raises :class:`~common.problems.BodyTooLarge` instead of handing the chunk over: nothing ever holds more than the
limit. A body with an acceptable ``Content-Length`` is not wrapped at all (uvicorn's parsers deliver exactly that
many bytes), so the common case costs one scan of the headers (the collector's hot path).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from common.problems import PROBLEM_JSON, BodyTooLarge


class BodyLimitMiddleware:
    """Pure ASGI. ``max_bytes`` for every route; ``per_path`` overrides it for exact paths (e.g. a bulk import)."""

    def __init__(self, app: Any, max_bytes: int, per_path: Mapping[str, int] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.per_path = dict(per_path or {})

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.per_path.get(scope["path"], self.max_bytes)
        chunked = False
        for name, value in scope["headers"]:
            if name == b"content-length":
                if value.isdigit() and int(value) <= limit:
                    await self.app(scope, receive, send)  # the server reads no more than this
                else:  # too large (or not a number, which the server's parser would not have let through)
                    await _answer_too_large(scope, send, limit)
                return
            chunked = chunked or name == b"transfer-encoding"
        if chunked:
            await self._counted(scope, receive, send, limit)
        else:  # neither header: HTTP/1.1 says there is no body
            await self.app(scope, receive, send)

    async def _counted(self, scope: dict, receive: Any, send: Any, limit: int) -> None:
        received = 0
        started = False

        async def counted_receive() -> dict:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def tracked_send(message: dict) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, tracked_send)
        except BodyTooLarge:
            # Normally the app's problem handler answers it; this is for code that read the body outside a route.
            if started:
                raise
            await _answer_too_large(scope, send, limit)


async def _answer_too_large(scope: dict, send: Any, limit: int) -> None:
    body = orjson.dumps(BodyTooLarge(limit).problem().body(scope["path"]))
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", PROBLEM_JSON.encode()),
                (b"content-length", str(len(body)).encode()),
                # the unread rest of the body is still on the connection: do not reuse it
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
