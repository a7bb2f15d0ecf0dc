"""The chassis' request-body limit: 413 problem+json from Content-Length before the body is read, and while a
chunked body streams in, never handing the application more than the limit; a route may have its own limit."""

from __future__ import annotations

import httpx
import pytest
from fastapi import Body, FastAPI, Request
from pydantic import BaseModel

from common.bodylimit import BodyLimitMiddleware
from common.problems import install_problem_handlers

pytestmark = pytest.mark.unit
LIMIT = 64 * 1024
CHUNK = 8 * 1024


class Item(BaseModel):
    name: str


def app_with_limits() -> tuple[FastAPI, dict[str, int]]:
    app = FastAPI()
    install_problem_handlers(app)
    app.add_middleware(BodyLimitMiddleware, max_bytes=LIMIT, per_path={"/v1/import": 4 * LIMIT})
    seen = {"handled": 0, "streamed": 0}

    @app.post("/raw")
    async def raw(body: bytes = Body(media_type="application/octet-stream")) -> dict[str, int]:
        seen["handled"] += 1
        return {"length": len(body)}

    @app.post("/model")
    async def model(item: Item) -> dict[str, str]:
        seen["handled"] += 1
        return {"name": item.name}

    @app.post("/stream")
    async def stream(request: Request) -> dict[str, int]:
        async for chunk in request.stream():
            seen["streamed"] += len(chunk)
        return {"length": seen["streamed"]}

    @app.post("/v1/import")
    async def bulk(request: Request) -> dict[str, int]:
        return {"length": len(await request.body())}

    @app.get("/ping")
    async def ping() -> dict[str, str]:
        return {"ok": "yes"}

    return app, seen


class Chunks:
    """A chunked request body (no Content-Length) that counts how much of it was pulled."""

    def __init__(self, total: int, prefix: bytes = b"") -> None:
        self.total, self.prefix, self.pulled = total, prefix, 0

    async def __aiter__(self):
        data = self.prefix + b"x" * (self.total - len(self.prefix))
        for i in range(0, len(data), CHUNK):
            self.pulled += len(data[i : i + CHUNK])
            yield data[i : i + CHUNK]


@pytest.fixture
async def client():
    app, seen = app_with_limits()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://svc") as c:
        c.seen = seen
        yield c


def assert_too_large(r: httpx.Response, limit: int = LIMIT) -> None:
    assert r.status_code == 413, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["code"] == "body-too-large" and r.json()["max_bytes"] == limit


async def test_a_declared_length_over_the_limit_is_refused_before_the_body_is_read(client):
    for path in ("/raw", "/model", "/stream"):
        r = await client.post(path, content=b"x" * (LIMIT + 1))
        assert_too_large(r)
        assert r.json()["instance"] == path
    assert client.seen == {"handled": 0, "streamed": 0}


@pytest.mark.parametrize(("path", "prefix"), [("/raw", b""), ("/model", b'{"name": "'), ("/stream", b"")])
async def test_a_chunked_body_is_cut_off_at_the_limit(client, path, prefix):
    body = Chunks(10 * LIMIT, prefix)
    r = await client.post(path, content=body, headers={"content-type": "application/json"})
    assert_too_large(r)
    assert body.pulled <= LIMIT + CHUNK  # read up to the chunk that crossed the limit, not the 640 KiB sent
    assert client.seen["handled"] == 0 and client.seen["streamed"] <= LIMIT  # the app never held more


async def test_bodies_within_the_limit_pass_whole(client):
    assert (await client.post("/raw", content=b"x" * LIMIT)).json() == {"length": LIMIT}
    assert (await client.post("/raw", content=Chunks(LIMIT))).json() == {"length": LIMIT}
    assert (await client.post("/model", json={"name": "李明"})).json() == {"name": "李明"}
    assert (await client.post("/stream", content=Chunks(LIMIT - 1))).json() == {"length": LIMIT - 1}
    assert (await client.get("/ping")).status_code == 200


async def test_a_route_with_its_own_limit(client):
    assert (await client.post("/v1/import", content=b"\n" * (3 * LIMIT))).json() == {"length": 3 * LIMIT}
    assert (await client.post("/v1/import", content=Chunks(3 * LIMIT))).json() == {"length": 3 * LIMIT}
    assert_too_large(await client.post("/v1/import", content=b"\n" * (4 * LIMIT + 1)), 4 * LIMIT)
    assert_too_large(await client.post("/v1/import", content=Chunks(5 * LIMIT)), 4 * LIMIT)
