"""Pagination parameters of the public lists: the opaque list cursor, the change feed's position, and the bounds
every offset obeys.

The list cursor is base64url of ``{"o": <offset>}``. It is not signed: it carries nothing a client could not ask
for anyway (``/v1/search`` takes a plain offset), so what matters is that a forged one can do no more than a
genuine one. The change cursor of ``GET /v1/changes`` is base64url of ``{"p": [<next offset>, ...]}``, one offset
per partition of ``catalog.resources.v1`` (see ``catalog.feed``); a forged one can only ask for changes the feed
serves anyway. Both are decoded strictly (an integer, not a bool, float or string; no other keys) and bounded:
tantivy collects ``offset + limit`` hits and allocates for all of them up front, so an offset of 10^10 made the
Rust side ask for ≈ 480 GB and abort the whole process, and a negative one raised deep inside it (a 500).
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Annotated, TypeVar

import orjson
from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError

from catalog.search import MAX_OFFSET
from common.problems import Problem, field_errors
from common.topics import CATALOG_RESOURCES, topic

MAX_CURSOR_CHARS = 64  # a list cursor is ≤ 16 characters
# A change cursor: 12 offsets of ≤ 19 digits are ≤ 336 characters. The characters of both formats (an old
# change cursor was 17 digits of microseconds, a dash and a resource id: see decode_change_cursor).
MAX_CHANGE_CURSOR_CHARS = 400
CHANGE_CURSOR_PATTERN = r"^[0-9A-Za-z_.~-]*$"
_RETIRED_CHANGE_CURSOR = re.compile(r"\d{17}-[0-9A-Za-z_.~-]*")
FEED_PARTITIONS = topic(CATALOG_RESOURCES).partitions
C = TypeVar("C", bound=BaseModel)


class ListCursor(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    o: StrictInt = Field(ge=0, le=MAX_OFFSET)


class ChangeCursor(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    p: list[Annotated[StrictInt, Field(ge=0, le=2**63 - 1)]] = Field(
        min_length=FEED_PARTITIONS, max_length=FEED_PARTITIONS
    )


def encode_cursor(offset: int) -> str:
    return _encode({"o": offset})


def encode_change_cursor(position: list[int]) -> str:
    return _encode({"p": position})


def _encode(cursor: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(cursor)).decode().rstrip("=")


def next_cursor(offset: int, limit: int, total: int) -> str | None:
    """The next page's cursor, or None at the end of the results or of the window a cursor may reach."""
    following = offset + limit
    return encode_cursor(following) if following < total and following <= MAX_OFFSET else None


def decode_cursor(cursor: str | None) -> int:
    """The offset a cursor names; a 422 problem (field ``query.cursor``) for anything that is not a cursor."""
    if not cursor:
        return 0
    return _decode(cursor, ListCursor, "query.cursor").o


def decode_change_cursor(after: str) -> list[int]:
    """The feed position ``after`` names (empty: the beginning); a 422 problem (field ``query.after``) for
    anything that is not a change cursor. A cursor of the retired wall-clock format (issued before the feed
    followed topic offsets) cannot be translated into offsets: it keeps working by starting over from the
    beginning, which the feed's at-least-once promise allows (the subscriber sees every resource once more)."""
    if not after or _RETIRED_CHANGE_CURSOR.fullmatch(after):
        return [0] * FEED_PARTITIONS
    return list(_decode(after, ChangeCursor, "query.after").p)


def _decode(cursor: str, model: type[C], field: str) -> C:
    try:
        raw = base64.urlsafe_b64decode(cursor.encode("ascii") + b"=" * (-len(cursor) % 4))
        return model.model_validate_json(raw)
    except ValidationError as e:
        errors = [{**err, "field": ".".join(filter(None, (field, err["field"])))} for err in field_errors(e.errors())]
        raise _invalid(errors) from None
    except (ValueError, binascii.Error):  # not ASCII, not base64
        raise _invalid([{"field": field, "message": "not a cursor", "code": "invalid-cursor"}]) from None


def _invalid(errors: list[dict[str, str]]) -> Problem:
    return Problem(422, "Invalid cursor", "the cursor is not one this API issued", errors=errors, code="invalid-cursor")
