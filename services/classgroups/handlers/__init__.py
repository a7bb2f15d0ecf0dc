"""The service layer: plain handlers, one per command or query, between the HTTP API (and the consumers) and
the domain and the store. They check object-level access with :mod:`classgroups.access`."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime

from classgroups.store import Stale
from common.errors import Conflict


def now() -> datetime:
    return datetime.now(UTC)


@contextlib.contextmanager
def fresh(what: str) -> Iterator[None]:
    """A write that lost the race for the document's next version (another writer changed it since it was read)
    answers 409: the caller reads again and decides again."""
    try:
        yield
    except Stale:
        raise Conflict(f"The {what} changed meanwhile; read it again.", code="stale") from None
