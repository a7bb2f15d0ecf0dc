"""Who is calling, by network address: the client IP behind a known number of trusted proxies.

``X-Forwarded-For`` is a list that each proxy extends with the address it received the request from; a client
can send any list it likes. Only the entries appended by our own proxies can be believed, and they are the
rightmost ones: behind ``trusted_hops`` proxies (the ingress depth, ``TRUSTED_PROXY_HOPS``) the client's
address is the entry ``trusted_hops`` places from the right. With 0 (a process reached directly, the local
default) the header is ignored and the socket's peer is the client. A header shorter than the configured
depth, or an entry that is not an IP address, falls back to the peer: the request did not come the way the
setting says, so nothing in it is trusted.
"""

from __future__ import annotations

import ipaddress

from starlette.requests import Request


def forwarded_client_ip(request: Request, trusted_hops: int | None = None) -> str | None:
    """The client's IP address; ``trusted_hops`` defaults to the app's ``settings.trusted_proxy_hops`` (the
    chassis' ``ServiceKit`` settings), 0 when the app has none."""
    if trusted_hops is None:
        kit = getattr(request.app.state, "kit", None)
        trusted_hops = getattr(getattr(kit, "settings", None), "trusted_proxy_hops", 0)
    peer = request.client.host if request.client else None
    if trusted_hops <= 0:
        return peer
    entries = [e.strip() for header in request.headers.getlist("x-forwarded-for") for e in header.split(",")]
    if len(entries) < trusted_hops:
        return peer
    candidate = entries[-trusted_hops]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return peer
