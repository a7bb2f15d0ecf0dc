"""What identity's routers share: the service layer of the app, the client's address, the first-party check."""

from __future__ import annotations

from fastapi import Depends, Request

from common.auth import Principal, require_principal
from common.network import forwarded_client_ip
from common.problems import Problem
from identity.handlers import Identity


async def identity(request: Request) -> Identity:
    # async: FastAPI runs a plain ``def`` dependency in a worker thread, a thread hop on every request
    return request.app.state.identity


def client_ip(request: Request) -> str:
    return forwarded_client_ip(request) or "unknown"  # X-Forwarded-For only as far as TRUSTED_PROXY_HOPS


async def first_party(who: Principal = Depends(require_principal)) -> Principal:
    """The user's own platform session: a relying party's token (it carries ``client_id``) is refused."""
    if who.client_id is not None:
        raise Problem(401, "Platform login required", "Log in to the platform first.", code="login_required")
    return who


# answered by the routes whose requests are counted (limits.py)
LIMITED = {429: {"description": "Rate limited or locked: a problem+json with `Retry-After` (seconds)"}}
