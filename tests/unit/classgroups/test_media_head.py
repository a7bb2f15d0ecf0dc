"""The photo check's SigV4 signature (``classgroups.media_head.sigv4_headers``) is botocore's, header for header and
to the last hex digit: plain and awkward keys, a port or none, http or https, with a session token and without,
and across midnight (the day's signing key is cached). A store that does not answer is a 503 problem."""

from __future__ import annotations

import calendar
from datetime import UTC, datetime
from urllib.parse import quote

import httpx
import pytest
from botocore import auth as botocore_auth
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from fastapi import FastAPI

from classgroups.app import install_object_store_problem
from classgroups.media_head import ObjectStoreUnavailable, sigv4_headers

pytestmark = pytest.mark.unit

SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"


def _botocore(url: str, rng: str, credentials: Credentials, region: str, at: datetime, monkeypatch) -> dict[str, str]:
    monkeypatch.setattr(botocore_auth, "get_current_datetime", lambda: at.replace(tzinfo=None))
    request = AWSRequest(method="GET", url=url, headers={"Range": rng})
    request.context["client_config"] = Config(s3={"payload_signing_enabled": False})
    S3SigV4Auth(credentials, "s3", region).add_auth(request)
    return {name.lower(): value for name, value in request.headers.items()}


@pytest.mark.parametrize("endpoint", ["http://127.0.0.1:8333", "https://s3.cn-north-1.example.com.cn"])
@pytest.mark.parametrize(
    "key",
    [
        "checkins/cls-0123456789abcdef/t-1/u-1/2026-12-03/a1b2.jpg",
        "studios/s 1/教研 材料+v2 (final)~.pdf",  # spaces, CJK, a plus, brackets, a tilde
    ],
)
@pytest.mark.parametrize("token", [None, "IQoJb3JpZ2luX2VjEFAaDmFwLWVhc3QtMSJGMEQCIFAKE//token=="])
def test_the_signature_is_botocores(endpoint: str, key: str, token: str | None, monkeypatch) -> None:
    credentials = Credentials("AKIDEXAMPLE", SECRET, token)
    at = datetime(2026, 12, 3, 7, 30, 15, tzinfo=UTC)
    path = "/smartedu-classgroups-media/" + quote(key, safe="/~")
    host = endpoint.split("://", 1)[1]
    rng = "bytes=0-261"
    ours = sigv4_headers(
        host=host,
        path=path,
        headers={"range": rng},
        credentials=credentials.get_frozen_credentials(),
        region="cn-north-1",
        now=calendar.timegm(at.timetuple()),
    )
    theirs = _botocore(endpoint + path, rng, credentials, "cn-north-1", at, monkeypatch)
    assert ours.pop("authorization") == theirs.pop("authorization")
    assert ours.pop("host") == host  # botocore signs the URL's host without sending it as a header
    assert ours == theirs  # every other header sent is one signed, with the same value


def test_the_days_key_is_cached_and_replaced_at_midnight(monkeypatch) -> None:
    credentials = Credentials("AKIDEXAMPLE", SECRET)
    keys: dict[str, bytes] = {}
    for at in (
        datetime(2026, 12, 3, 23, 59, 59, tzinfo=UTC),
        datetime(2026, 12, 3, 23, 59, 59, tzinfo=UTC),  # from the cache
        datetime(2026, 12, 4, 0, 0, 1, tzinfo=UTC),  # a new day: a new key
    ):
        ours = sigv4_headers(
            host="127.0.0.1:8333",
            path="/b/k.jpg",
            headers={"range": "bytes=0-9"},
            credentials=credentials.get_frozen_credentials(),
            region="us-east-1",
            now=calendar.timegm(at.timetuple()),
            signing_keys=keys,
        )
        theirs = _botocore("http://127.0.0.1:8333/b/k.jpg", "bytes=0-9", credentials, "us-east-1", at, monkeypatch)
        assert ours["authorization"] == theirs["authorization"]
        assert len(keys) == 1


def test_another_secret_signs_differently() -> None:
    def signed(secret: str) -> str:
        return sigv4_headers(
            host="h",
            path="/b/k",
            headers={"range": "bytes=0-9"},
            credentials=Credentials("AKIDEXAMPLE", secret).get_frozen_credentials(),
            region="us-east-1",
            now=1_796_000_000,
        )["authorization"]

    assert signed(SECRET) != signed(SECRET[:-1] + "X")


async def test_a_store_that_does_not_answer_is_a_503_to_retry() -> None:
    app = FastAPI()
    install_object_store_problem(app)

    @app.post("/submit")
    async def submit() -> None:
        raise ObjectStoreUnavailable("the object store did not answer in 10 s")

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://cg") as client:
        r = await client.post("/submit")
    assert r.status_code == 503
    assert r.headers["content-type"] == "application/problem+json"
    assert r.headers["retry-after"] == "5"
    assert r.json()["code"] == "object-store-unavailable"
    assert "10 s" not in r.text  # nothing internal
