"""The collector benchmark's baseline: the same framework and server, an endpoint that only parses the body."""

from __future__ import annotations

import orjson
from fastapi import FastAPI, Request, Response


def create_app() -> FastAPI:
    app = FastAPI()

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/v1/views", status_code=202)
    async def views(request: Request) -> Response:
        body = orjson.loads(await request.body())
        n = len(body["views"]) if isinstance(body, dict) and "views" in body else 1
        return Response(orjson.dumps({"accepted": n, "rejected": []}), status_code=202, media_type="application/json")

    return app
