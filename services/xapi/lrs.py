"""The Learning Record Store, through its xAPI 1.0.3 statements resource: Ralph locally and in CI, any
conformant LRS in production (``XAPI_LRS_URL``)."""

from __future__ import annotations

import logging
from typing import Any

import httpx

from common.messaging import DependencyUnavailable
from xapi.settings import XapiSettings

log = logging.getLogger("xapi.lrs")

XAPI_VERSION_HEADER = {"X-Experience-API-Version": "1.0.3"}


class StatementsRefused(Exception):
    """The LRS refused the statements themselves (400 or 422: not valid xAPI; 409: an id it holds with other content,
    e.g. after the mapping changed):
    the record's fault, so the chassis retries it a few times, then dead-letters it with this reason."""


class LearningRecordStore:
    def __init__(self, settings: XapiSettings) -> None:
        self.url = settings.lrs_url.rstrip("/") + "/statements"
        self.client = httpx.AsyncClient(
            auth=(settings.lrs_username, settings.lrs_password.get_secret_value()),
            headers=XAPI_VERSION_HEADER,
            timeout=settings.lrs_timeout_seconds,
        )

    async def close(self) -> None:
        await self.client.aclose()

    async def store(self, statements: list[dict[str, Any]]) -> None:
        """POSTs the statements; returns once the LRS accepted all of them (200 with their ids, or 204 when it
        held them all already). Raises :class:`DependencyUnavailable` while the LRS is down, overloaded (429, 5xx)
        or refuses our credentials (401/403: a configuration error, not a record's: nothing is dead-lettered
        while an operator fixes it) or is not where the setting says (404), and :class:`StatementsRefused` for a
        statement it will never take."""
        try:
            response = await self.client.post(self.url, json=statements)
        except httpx.HTTPError as exc:
            raise DependencyUnavailable(f"LRS unreachable: {type(exc).__name__}: {exc}") from exc
        if response.status_code in (200, 204):
            return
        detail = f"LRS answered {response.status_code}: {response.text[:500]}"
        if response.status_code in _OUTAGE or response.status_code >= 500:
            raise DependencyUnavailable(detail)
        raise StatementsRefused(detail)  # 400 (422 from some), 409, 413...


# Not the statements' fault: wrong credentials or scope (an operator fixes them), the LRS busy or timing out.
_OUTAGE = frozenset({401, 403, 404, 408, 425, 429})
