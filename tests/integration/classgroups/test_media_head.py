"""The photo check's read (``classgroups.media_head.HeadReader``): against the real object store, real JPEG and MP4
bytes under plain and awkward keys come back with their size, stored type and first bytes; a missing object is
None and wrong keys are refused. Against a local server that misbehaves the way stores and proxies do: a store that
ignores the range, one that drops kept-alive connections, 5xx, 403 and silence."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import boto3
import pytest
from botocore.config import Config
from botocore.credentials import Credentials

from classgroups.domain.media import HEAD_BYTES
from classgroups.media_head import HeadReader, ObjectStoreError, ObjectStoreUnavailable
from classgroups.settings import ClassGroupsSettings
from tests.integration.classgroups.media_samples import jpeg, mp4

pytestmark = pytest.mark.integration

# The service's own bucket, under a prefix of this run: each bucket is a SeaweedFS collection with volumes of its
# own, and the local store has room for few.
PREFIX = f"test-media-head-{uuid.uuid4().hex[:8]}/"


@pytest.fixture(scope="module")
def store() -> tuple[ClassGroupsSettings, object]:
    settings = ClassGroupsSettings()
    s3 = boto3.client(
        "s3",
        endpoint_url=settings.s3_endpoint_url,
        aws_access_key_id=settings.s3_access_key_id,
        aws_secret_access_key=settings.s3_secret_access_key.get_secret_value(),
        region_name=settings.s3_region,
        config=Config(s3={"addressing_style": "path"}),
    )
    with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou, s3.exceptions.BucketAlreadyExists):
        s3.create_bucket(Bucket=settings.media_bucket)
    return settings, s3


def reader(settings: ClassGroupsSettings, secret: str | None = None, **kwargs: object) -> HeadReader:
    credentials = Credentials(settings.s3_access_key_id, secret or settings.s3_secret_access_key.get_secret_value())
    return HeadReader(
        endpoint_url=settings.s3_endpoint_url,
        bucket=settings.media_bucket,
        region=settings.s3_region,
        credentials=credentials,
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("key", "data", "content_type"),
    [
        ("checkins/cls-1/t-1/u-1/2026-12-03/a.jpg", jpeg(640, 480), "image/jpeg"),
        ("checkins/cls-1/t-1/u-1/2026-12-03/b.mp4", mp4(), "video/mp4"),
        ("studios/s 1/教研 材料+v2 (final)~.jpg", jpeg(), "image/jpeg"),  # every character that needs encoding
        ("tiny/under-the-range.bin", b"\x89PNG\r\n\x1a\n" + b"\0" * 40, "image/png"),  # smaller than the range
    ],
)
async def test_a_real_object_comes_back_with_size_type_and_first_bytes(store, key, data, content_type) -> None:
    settings, s3 = store
    key = PREFIX + key
    await asyncio.to_thread(s3.put_object, Bucket=settings.media_bucket, Key=key, Body=data, ContentType=content_type)
    head = reader(settings)
    try:
        for _ in range(3):  # the second and third go over the kept-alive connection
            got = await head.read_head(key)
            assert got is not None
            assert (got.size, got.content_type, got.head) == (len(data), content_type, data[:HEAD_BYTES])
        assert len(head._idle) == 1
    finally:
        head.close()


async def test_a_missing_object_is_none_and_wrong_keys_are_refused(store) -> None:
    settings, _ = store
    head = reader(settings)
    try:
        assert await head.read_head(f"{PREFIX}checkins/never-uploaded.jpg") is None
    finally:
        head.close()
    forged = reader(settings, secret="not-the-secret-at-all")
    try:
        with pytest.raises(ObjectStoreError, match="403"):
            await forged.read_head(f"{PREFIX}checkins/cls-1/t-1/u-1/2026-12-03/a.jpg")
    finally:
        forged.close()


async def test_a_store_that_is_not_there_is_unavailable() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    head = HeadReader(
        endpoint_url=f"http://127.0.0.1:{port}", bucket="b", region="us-east-1", credentials=Credentials("a", "b")
    )
    with pytest.raises(ObjectStoreUnavailable, match="not reachable"):
        await head.read_head("k.jpg")


# --- a local server that misbehaves ------------------------------------------------------------------------------
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@contextlib.asynccontextmanager
async def serving(handle: Handler, **options: object) -> AsyncIterator[tuple[HeadReader, list[int]]]:
    """A reader of a server whose every connection runs ``handle``; the list counts connections made."""
    connections: list[int] = []

    async def on_connection(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        connections.append(1)
        with contextlib.suppress(ConnectionError):
            await handle(r, w)
        w.close()

    server = await asyncio.start_server(on_connection, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    head = HeadReader(
        endpoint_url=f"http://127.0.0.1:{port}",
        bucket="b",
        region="us-east-1",
        credentials=Credentials("a", "b"),
        **{"timeout": 1.0, **options},  # type: ignore[arg-type]
    )
    try:
        yield head, connections
    finally:
        head.close()
        server.close()


async def _request(r: asyncio.StreamReader) -> bytes:
    return await r.readuntil(b"\r\n\r\n")


async def test_a_store_that_ignores_the_range_sends_no_more_than_the_head() -> None:
    whole = b"\xff\xd8\xff" + b"x" * (8 * 1024 * 1024)

    async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        while True:
            await _request(r)
            w.write(b"HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(whole))
            for i in range(0, len(whole), 65536):
                w.write(whole[i : i + 65536])
                await w.drain()

    async with serving(handle) as (head, connections):
        for _ in range(2):
            got = await head.read_head("k.jpg")
            assert (got.size, got.head) == (len(whole), whole[:HEAD_BYTES])
        assert len(connections) == 2  # the cut-off connection is never reused
        assert not head._idle


async def test_a_kept_alive_connection_the_store_dropped_is_retried_on_a_new_one() -> None:
    async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await _request(r)
        w.write(b"HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-2/3\r\nContent-Length: 3\r\n\r\nabc")
        await w.drain()
        # the next request on this connection meets the store's idle timeout: dropped unanswered
        await _request(r)

    async with serving(handle) as (head, connections):
        for _ in range(3):
            got = await head.read_head("k.jpg")
            assert (got.size, got.head, got.content_type) == (3, b"abc", None)
        assert len(connections) == 3  # the first read's, then one more for each dropped kept-alive connection


@pytest.mark.parametrize(
    ("status", "error", "match"),
    [
        (503, ObjectStoreUnavailable, r"503 \(SlowDown\)"),
        (403, ObjectStoreError, r"403 \(AccessDenied\)"),
        (400, ObjectStoreError, r"400 \(InvalidRequest\)"),
    ],
)
async def test_an_error_answer_is_named(status: int, error: type[Exception], match: str) -> None:
    code = {503: "SlowDown", 403: "AccessDenied", 400: "InvalidRequest"}[status]
    body = f"<?xml version='1.0'?><Error><Code>{code}</Code><Message>no</Message></Error>".encode()

    async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await _request(r)
        w.write(b"HTTP/1.1 %d X\r\nContent-Length: %d\r\n\r\n%s" % (status, len(body), body))
        await w.drain()
        await r.read()

    async with serving(handle) as (head, _):
        with pytest.raises(error, match=match):
            await head.read_head("k.jpg")


async def test_a_store_that_never_answers_times_out() -> None:
    async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await _request(r)
        await asyncio.sleep(30)

    async with serving(handle) as (head, _):
        with pytest.raises(ObjectStoreUnavailable, match="did not answer"):
            await head.read_head("k.jpg")
        assert not head._idle


async def test_a_burst_of_reads_opens_no_more_connections_than_allowed() -> None:
    open_now, most = 0, 0

    async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        nonlocal open_now, most
        open_now += 1
        most = max(most, open_now)
        try:
            while True:
                await _request(r)
                await asyncio.sleep(0.02)  # a slow store: the burst piles up
                w.write(b"HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-2/3\r\nContent-Length: 3\r\n\r\nabc")
                await w.drain()
        finally:
            open_now -= 1

    async with serving(handle, max_connections=3) as (head, connections):
        got = await asyncio.gather(*(head.read_head(f"k{i}.jpg") for i in range(30)))
        assert [g.head for g in got] == [b"abc"] * 30
        assert (len(connections), most) == (3, 3)  # three sockets, each reused for ten reads


async def test_a_connection_that_speaks_unasked_is_not_reused() -> None:
    answer = b"HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-2/3\r\nContent-Length: 3\r\n\r\nabc"

    async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await _request(r)
        w.write(answer)
        await asyncio.sleep(0.05)
        w.write(b"HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\n\r\n")  # as some stores do when idle
        await w.drain()
        while True:  # and the connection stays open: only the stray answer tells
            await _request(r)
            w.write(answer)
            await w.drain()

    async with serving(handle) as (head, connections):
        assert (await head.read_head("a.jpg")).head == b"abc"
        await asyncio.sleep(0.2)
        assert (await head.read_head("b.jpg")).head == b"abc"  # not the 408
        assert len(connections) == 2
