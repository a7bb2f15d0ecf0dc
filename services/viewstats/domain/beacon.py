"""The view beacon (浏览信标): one page view as a client reports it.

Validation is hand-written on purpose: the collector checks up to 1,000 beacons per request at peak
(≈ 90 million a day), and a pydantic model per item costs several times more than these few checks.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from common.reference import PROVINCES, SECTIONS_BY_CODE, country_of_province

# Section codes (板块) and GB/T 2260 province codes: the platform's one vocabulary (common.reference).
SECTIONS = frozenset(SECTIONS_BY_CODE)
CLIENTS = frozenset({"web", "android", "ios", "harmony", "mini_program", "tv"})

ID_RE = re.compile(r"[A-Za-z0-9_\-]{1,64}\Z")
VISITOR_RE = re.compile(r"(anon:)?[A-Za-z0-9_\-]{1,64}\Z")
COUNTRY_RE = re.compile(r"[A-Z]{2}\Z")
UUID_RE = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\Z")

MAX_AGE_MS = 7 * 24 * 3600 * 1000  # the views topic keeps 7 days; older beacons cannot be replayed anyway
MAX_SKEW_MS = 5 * 60 * 1000


@dataclass(frozen=True, slots=True)
class View:
    """One accepted view. ``time_ms`` is epoch milliseconds (UTC)."""

    event_id: str
    resource_id: str
    section: str
    visitor_id: str
    province: str | None
    country: str
    client: str
    time_ms: int

    @property
    def anonymous(self) -> bool:
        return self.visitor_id.startswith("anon:")

    def data(self) -> dict[str, Any]:
        """The ``ViewRecorded`` body (the event id travels as the CloudEvents id)."""
        return {
            "resource_id": self.resource_id,
            "section": self.section,
            "visitor_id": self.visitor_id,
            "province": self.province,
            "country": self.country,
            "client": self.client,
            "viewed_at": ms_to_iso(self.time_ms),
        }


class BeaconError(ValueError):
    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def ms_to_iso(ms: int) -> str:
    """RFC 3339 in UTC with milliseconds. The collector formats two per view: the second is cached."""
    seconds, millis = divmod(ms, 1000)
    return f"{_iso_second(seconds)}.{millis:03d}Z"


@lru_cache(maxsize=8192)
def _iso_second(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")


def parse_time_ms(value: Any) -> int:
    if isinstance(value, bool):
        raise BeaconError("time", "must be epoch milliseconds or an RFC 3339 string")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            dt = datetime.fromisoformat(value)
        except ValueError:
            raise BeaconError("time", "not an RFC 3339 timestamp") from None
        if dt.tzinfo is None:
            raise BeaconError("time", "needs a UTC offset")
        return int(dt.timestamp() * 1000)
    raise BeaconError("time", "must be epoch milliseconds or an RFC 3339 string")


def _str(item: dict[str, Any], field: str, pattern: re.Pattern[str]) -> str:
    value = item.get(field)
    if not isinstance(value, str) or pattern.match(value) is None:
        raise BeaconError(field, "missing or malformed")
    return value


def parse_beacon(item: Any, now_ms: int, *, province: str | None = None, country: str | None = None) -> View:
    """A :class:`View` from a client's JSON object, or :class:`BeaconError` naming the first bad field.

    ``province``/``country`` come from the client's IP (the collector's lookup); a beacon's own values win
    only for the country when the IP is unknown (a client abroad behind a proxy reports it)."""
    if not isinstance(item, dict):
        raise BeaconError("", "a beacon is a JSON object")
    event_id = item.get("event_id")
    if not isinstance(event_id, str) or UUID_RE.match(event_id) is None:
        raise BeaconError("event_id", "must be a UUID")
    resource_id = _str(item, "resource_id", ID_RE)
    section = item.get("section")
    if section not in SECTIONS:
        raise BeaconError("section", "unknown section code")
    user_id = item.get("user_id")
    anon = item.get("visitor_id")
    if user_id is not None:
        visitor = _str(item, "user_id", ID_RE)
    elif anon is not None:
        visitor = "anon:" + _str(item, "visitor_id", ID_RE)
    else:
        raise BeaconError("user_id", "either user_id or visitor_id is required")
    client = item.get("client", "web")
    if client not in CLIENTS:
        raise BeaconError("client", "unknown client kind")
    time_ms = parse_time_ms(item.get("time", now_ms))
    if time_ms < now_ms - MAX_AGE_MS or time_ms > now_ms + MAX_SKEW_MS:
        raise BeaconError("time", "too old or in the future")
    if province is None and (p := item.get("province")) is not None:
        if p not in PROVINCES:
            raise BeaconError("province", "unknown province code")
        province = p
    if country is None:
        c = item.get("country")
        if c is None:
            country = country_of_province(province)
        elif isinstance(c, str) and COUNTRY_RE.match(c):
            country = c
        else:
            raise BeaconError("country", "must be an ISO 3166-1 alpha-2 code")
    return View(event_id.lower(), resource_id, section, visitor, province, country, client, time_ms)


def _json_pattern(pattern: re.Pattern[str]) -> str:
    return "^" + pattern.pattern.removesuffix("\\Z") + "$"


def beacon_schema() -> dict[str, Any]:
    """The beacon's JSON Schema, for the collector's OpenAPI (client teams read it there). Built from the same
    constants and patterns :func:`parse_beacon` checks, so the two cannot drift; the parser stays hand-written for
    speed. What a schema cannot say (``user_id`` or ``visitor_id``, the time window) is in the descriptions."""
    return {
        "title": "ViewBeacon",
        "type": "object",
        "required": ["event_id", "resource_id", "section"],
        "properties": {
            "event_id": {
                "type": "string",
                "pattern": _json_pattern(UUID_RE),
                "description": "A UUID the client makes per view and keeps across retries: a repeat counts once.",
            },
            "resource_id": {"type": "string", "pattern": _json_pattern(ID_RE)},
            "section": {"type": "string", "enum": sorted(SECTIONS), "description": "The section code (板块)."},
            "user_id": {
                "type": "string",
                "pattern": _json_pattern(ID_RE),
                "description": "The signed-in user; else `visitor_id` is required.",
            },
            "visitor_id": {
                "type": "string",
                "pattern": _json_pattern(ID_RE),
                "description": "An anonymous visitor's stable id (a cookie or device id), when no user is signed in.",
            },
            "client": {"type": "string", "enum": sorted(CLIENTS), "default": "web"},
            "time": {
                "oneOf": [{"type": "integer"}, {"type": "string", "format": "date-time"}],
                "description": "When the view happened: epoch milliseconds or RFC 3339 with an offset; default: now. "
                f"At most {MAX_AGE_MS // 86_400_000} days old and {MAX_SKEW_MS // 60_000} minutes ahead.",
            },
            "province": {
                "type": "string",
                "enum": sorted(PROVINCES),
                "description": "GB/T 2260 code; used only when the client's address has no province.",
            },
            "country": {
                "type": "string",
                "pattern": _json_pattern(COUNTRY_RE),
                "description": "ISO 3166-1 alpha-2; used only when the client's address is unknown.",
            },
        },
    }


def views_request_schema(max_batch: int) -> dict[str, Any]:
    """``POST /v1/views`` takes one beacon, an array of them, or ``{"views": [...]}``."""
    batch = {"type": "array", "items": beacon_schema(), "minItems": 1, "maxItems": max_batch}
    return {
        "anyOf": [
            beacon_schema(),
            batch,
            {"type": "object", "required": ["views"], "properties": {"views": batch}},
        ]
    }


def new_event_id() -> str:
    return str(uuid.uuid4())
