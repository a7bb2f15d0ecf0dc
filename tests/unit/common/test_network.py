"""common.network: the client IP behind TRUSTED_PROXY_HOPS proxies, never what a client wrote."""

import pytest
from starlette.requests import Request

from common.network import forwarded_client_ip

pytestmark = pytest.mark.unit


def request(*forwarded: str, peer: str = "10.0.0.7") -> Request:
    headers = [(b"x-forwarded-for", f.encode()) for f in forwarded]
    return Request({"type": "http", "headers": headers, "client": (peer, 5555), "app": None})


def test_without_trusted_proxies_the_header_is_ignored():
    # hole 11: any client could pick its address (and so its province and its rate-limit bucket)
    assert forwarded_client_ip(request("1.2.3.4"), 0) == "10.0.0.7"


def test_the_client_is_the_entry_as_many_hops_from_the_right():
    assert forwarded_client_ip(request("6.6.6.6, 1.2.3.4"), 1) == "1.2.3.4"  # the spoofed left entry is not read
    assert forwarded_client_ip(request("6.6.6.6, 1.2.3.4, 10.1.1.1"), 2) == "1.2.3.4"
    assert forwarded_client_ip(request("6.6.6.6", "1.2.3.4"), 1) == "1.2.3.4"  # repeated headers are one list


def test_a_short_or_garbled_header_falls_back_to_the_peer():
    assert forwarded_client_ip(request("1.2.3.4"), 2) == "10.0.0.7"
    assert forwarded_client_ip(request("1.2.3.4, <script>"), 1) == "10.0.0.7"
    assert forwarded_client_ip(request(), 1) == "10.0.0.7"
