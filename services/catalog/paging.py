"""Pagination parameters of the public lists: the opaque list cursor and the bounds every offset obeys.

The list cursor is base64url of ``{"o": <offset>}``. It is not signed: it carries nothing a client could not ask
for anyway (``/v1/search`` takes a plain offset), so what matters is that a forged one can do no more than a
genuine one. It is decoded strictly (an integer, not a bool, float or string; no other keys) and bounded:
tantivy collects ``offset + limit`` hits and allocates for all of them up front, so an offset of 10^10 made the
Rust side ask for ≈ 480 GB and abort the whole process, and a negative one raised deep inside it (a 500).
"""

from __future__ import annotations

import base64
import binascii

import orjson
from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError

from catalog.search import MAX_OFFSET
from common.problems import Problem, field_errors

MAX_CURSOR_CHARS = 64  # a list cursor is ≤ 16 characters, a change cursor 39 (see change_cursor)
# A change cursor: 17 digits of microseconds, a dash, a resource id (possibly empty: "everything after this time").
CHANGE_CURSOR_PATTERN = r"^(\d{17}-[0-9A-Za-z_.~-]*)?$"


class ListCursor(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    o: StrictInt = Field(ge=0, le=MAX_OFFSET)


def encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(orjson.dumps({"o": offset})).decode().rstrip("=")


def next_cursor(offset: int, limit: int, total: int) -> str | None:
    """The next page's cursor, or None at the end of the results or of the window a cursor may reach."""
    following = offset + limit
    return encode_cursor(following) if following < total and following <= MAX_OFFSET else None


def decode_cursor(cursor: str | None) -> int:
    """The offset a cursor names; a 422 problem (field ``query.cursor``) for anything that is not a cursor."""
    if not cursor:
        return 0
    try:
        raw = base64.urlsafe_b64decode(cursor.encode("ascii") + b"=" * (-len(cursor) % 4))
        return ListCursor.model_validate_json(raw).o
    except ValidationError as e:
        errors = [
            {**err, "field": ".".join(filter(None, ("query.cursor", err["field"])))} for err in field_errors(e.errors())
        ]
        raise _invalid(errors) from None
    except (ValueError, binascii.Error):  # not ASCII, not base64
        raise _invalid([{"field": "query.cursor", "message": "not a cursor", "code": "invalid-cursor"}]) from None


def _invalid(errors: list[dict[str, str]]) -> Problem:
    return Problem(422, "Invalid cursor", "the cursor is not one this API issued", errors=errors, code="invalid-cursor")
