"""The photo check's read, on every check-in's hot path: one ranged GET of an object's first bytes over the S3 API,
signed with AWS Signature Version 4 and sent from the event loop over kept-alive connections.

Why not a client library here (boto3 stays for everything else in ``classgroups.media``): ``docs/BENCHMARKS.md``
("The photo's read on the event loop", session 17) measured the same reads in one process, alternating:
- obstore (Rust, async), used until session 16: 0.17–0.24 ms of CPU per read, most of it on its Tokio threads;
- aiohttp: 0.18–0.23 ms, on the loop;
- this module: 0.07–0.09 ms;
- boto3: 1.21 ms (session 11).
In the whole submission benchmark the switch from obstore took 0.36 ms of CPU off each check-in (median of four
alternating pairs) and raised the rate in three pairs of four. Signing alone: botocore's ``S3SigV4Auth`` takes
84 µs a request, the few lines below 9 µs.

What is not hand-written: HTTP parsing is httptools (uvicorn's parser). The credentials are botocore's chain:
static keys, the environment, a pod's web identity, refreshed in a worker thread. The signature is checked
against botocore's in ``tests/unit/classgroups/test_media_head.py`` and accepted by the real store in the
integration tier.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
import ssl
import time
from typing import NamedTuple
from urllib.parse import quote, urlsplit

import httptools
from botocore.credentials import Credentials, ReadOnlyCredentials, RefreshableCredentials

from classgroups.domain.media import HEAD_BYTES, StoredObject

UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
# Refreshable credentials (web identity, instance roles) are re-read this often, in a worker thread: botocore
# refreshes them well before they expire (15 minutes), so a copy this old is always still valid.
CREDENTIALS_SECONDS = 60.0
# Connections open at once: more reads than this wait for one (a burst of submissions must not open a socket each
# on the store); all of them may stay open for the next reads.
MAX_CONNECTIONS = 64


class ObjectStoreUnavailable(Exception):
    """The object store did not answer (connection refused or lost, a timeout, a 5xx): worth a retry."""


class ObjectStoreError(Exception):
    """The object store refused the read (403: wrong keys or policy; another 4xx): a configuration fault."""


def sigv4_headers(
    *,
    host: str,
    path: str,
    headers: dict[str, str],
    credentials: ReadOnlyCredentials,
    region: str,
    now: float,
    service: str = "s3",
    signing_keys: dict[str, bytes] | None = None,
) -> dict[str, str]:
    """The headers of a signed GET of ``path`` (already URI-encoded) with ``headers`` (lower-case names): AWS's
    Signature Version 4, every header signed, the payload unsigned (a GET has none). ``signing_keys`` caches the
    day's derived key (four HMACs) across calls."""
    amz_date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
    day = amz_date[:8]
    signed = {**headers, "host": host, "x-amz-content-sha256": UNSIGNED_PAYLOAD, "x-amz-date": amz_date}
    if credentials.token:
        signed["x-amz-security-token"] = credentials.token
    names = sorted(signed)
    canonical = "\n".join(
        [
            "GET",
            path,
            "",  # no query string
            *(f"{name}:{signed[name].strip()}" for name in names),
            "",
            ";".join(names),
            UNSIGNED_PAYLOAD,
        ]
    )
    scope = f"{day}/{region}/{service}/aws4_request"
    to_sign = f"AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    cache_key = f"{day}/{region}/{service}/{credentials.secret_key}"
    key = signing_keys.get(cache_key) if signing_keys is not None else None
    if key is None:
        key = f"AWS4{credentials.secret_key}".encode()
        for part in (day, region, service, "aws4_request"):
            key = hmac.new(key, part.encode(), hashlib.sha256).digest()
        if signing_keys is not None:
            signing_keys.clear()  # one day's key is all that is ever needed
            signing_keys[cache_key] = key
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    signed["authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={credentials.access_key}/{scope}, "
        f"SignedHeaders={';'.join(names)}, Signature={signature}"
    )
    return signed


class _Response(NamedTuple):
    status: int
    headers: dict[bytes, bytes]
    body: bytes
    reusable: bool


class _Connection(asyncio.Protocol):
    """One kept-alive HTTP/1.1 connection, one request at a time; the body is kept up to ``limit`` bytes (a store
    that ignores the range must not make the service buffer a whole video)."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.open = True
        self._parser = httptools.HttpResponseParser(self)
        self._waiter: asyncio.Future[_Response] | None = None
        self._headers: dict[bytes, bytes] = {}
        self._body = bytearray()
        self._limit = 0

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.open = False
        self._fail(ConnectionError(f"connection lost: {exc}" if exc else "connection closed by the store"))

    def data_received(self, data: bytes) -> None:
        if self._waiter is None or self._waiter.done():
            # nothing was asked (a store's "408" before it drops an idle connection, or the rest of a response cut
            # off above): this connection's next answer could not be trusted
            self.close()
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(ConnectionError(f"unreadable response: {exc}"))
            self.close()

    # httptools' callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers[name.lower()] = value

    def on_body(self, chunk: bytes) -> None:
        self._body += chunk
        if len(self._body) > self._limit and self._waiter is not None and not self._waiter.done():
            # enough of a response the store did not cut to the range: answer now, drop the connection
            self._waiter.set_result(self._response(reusable=False))
            self.close()

    def on_message_complete(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(self._response(reusable=self._parser.should_keep_alive()))

    def _response(self, *, reusable: bool) -> _Response:
        return _Response(self._parser.get_status_code(), self._headers, bytes(self._body[: self._limit]), reusable)

    def _fail(self, exc: Exception) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(exc)

    def send(self, request: bytes, limit: int) -> asyncio.Future[_Response]:
        assert self.transport is not None
        self._headers, self._body, self._limit = {}, bytearray(), limit
        self._waiter = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return self._waiter

    def close(self) -> None:
        self.open = False
        if self.transport is not None:
            self.transport.close()


_CODE = re.compile(rb"<Code>([^<]{1,64})</Code>")


class HeadReader:
    """Reads the size, stored Content-Type and first bytes of objects in one bucket (path-style addressing, as the
    rest of ``classgroups.media``)."""

    def __init__(
        self,
        *,
        endpoint_url: str | None,
        bucket: str,
        region: str,
        credentials: Credentials | None,
        connect_timeout: float = 3.0,
        timeout: float = 10.0,
        max_connections: int = MAX_CONNECTIONS,
    ) -> None:
        url = urlsplit(endpoint_url or f"https://s3.{region}.amazonaws.com")
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(f"not an http(s) endpoint: {endpoint_url}")
        self.hostname = url.hostname
        self.port = url.port or (443 if url.scheme == "https" else 80)
        self.host = url.netloc
        self.ssl = ssl.create_default_context() if url.scheme == "https" else None
        self.prefix = f"{url.path.rstrip('/')}/{quote(bucket, safe='')}/"
        self.region = region
        self.connect_timeout = connect_timeout
        self.timeout = timeout
        self._credentials = credentials
        self._frozen: ReadOnlyCredentials | None = None
        self._frozen_at = 0.0
        self._signing_keys: dict[str, bytes] = {}
        self._idle: list[_Connection] = []
        self._slots = asyncio.Semaphore(max_connections)

    async def read_head(self, key: str, limit: int = HEAD_BYTES) -> StoredObject | None:
        """None when there is no object under ``key`` (or it is empty: a store answers a range of an empty object
        with 416, and the upload policy allows no empty one)."""
        path = self.prefix + quote(key, safe="/~")
        headers = sigv4_headers(
            host=self.host,
            path=path,
            headers={"range": f"bytes=0-{limit - 1}"},
            credentials=await self._current_credentials(),
            region=self.region,
            now=time.time(),
            signing_keys=self._signing_keys,
        )
        lines = [f"GET {path} HTTP/1.1", *(f"{name}: {value}" for name, value in headers.items()), "", ""]
        request = "\r\n".join(lines).encode()
        async with self._slots:
            response = await self._exchange(request, limit)
        status = response.status
        if status in (404, 416):
            return None
        if status not in (200, 206):
            found = _CODE.search(response.body)
            code = found.group(1).decode(errors="replace") if found else "-"
            message = f"GET {key}: the store answered {status} ({code})"
            raise (ObjectStoreUnavailable if status >= 500 else ObjectStoreError)(message)
        try:
            if status == 206:
                size = int(response.headers[b"content-range"].rsplit(b"/", 1)[1])
            else:
                size = int(response.headers[b"content-length"])
        except (KeyError, ValueError) as exc:
            raise ObjectStoreError(f"GET {key}: no object size in the store's answer") from exc
        content_type = response.headers.get(b"content-type")
        return StoredObject(
            size=size, content_type=content_type.decode("latin-1") if content_type else None, head=response.body
        )

    async def _exchange(self, request: bytes, limit: int) -> _Response:
        # A kept-alive connection may have been closed by the store meanwhile: then once more on a new one (a GET
        # is safe to repeat).
        for attempt in (1, 2):
            connection = self._idle_connection()
            reused = connection is not None
            try:
                async with asyncio.timeout(self.timeout):
                    if connection is None:
                        connection = await self._connect()
                    response = await connection.send(request, limit)
            except TimeoutError as exc:
                if connection is not None:
                    connection.close()
                raise ObjectStoreUnavailable(f"the object store did not answer in {self.timeout:g} s") from exc
            except OSError as exc:  # ConnectionError included
                if connection is not None:
                    connection.close()
                if reused and attempt == 1:
                    continue
                raise ObjectStoreUnavailable(f"the object store is not reachable: {exc}") from exc
            if response.reusable and connection.open:  # (never more idle than MAX_CONNECTIONS: the slots)
                self._idle.append(connection)
            else:
                connection.close()
            return response
        raise AssertionError("unreachable")

    def _idle_connection(self) -> _Connection | None:
        while self._idle:
            connection = self._idle.pop()
            if connection.open:
                return connection
        return None

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(self.connect_timeout):
            _, connection = await loop.create_connection(
                _Connection, self.hostname, self.port, ssl=self.ssl, server_hostname=self.hostname if self.ssl else None
            )
        return connection

    async def _current_credentials(self) -> ReadOnlyCredentials:
        if self._credentials is None:
            raise ObjectStoreError("no S3 credentials: set S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY, or a pod role")
        refreshable = isinstance(self._credentials, RefreshableCredentials)
        now = time.monotonic()
        if self._frozen is None or (refreshable and now - self._frozen_at > CREDENTIALS_SECONDS):
            # a refresh may call STS: never on the event loop
            self._frozen = await asyncio.to_thread(self._credentials.get_frozen_credentials)
            self._frozen_at = now
        return self._frozen

    def close(self) -> None:
        for connection in self._idle:
            connection.close()
        self._idle.clear()
