"""Errors a domain raises when one of its rules refuses a command.

Domain code knows no HTTP: it raises one of these, and the chassis maps each kind to an RFC 9457 problem at the edge
(``common.problems``): :class:`Invalid` → 422 (with the offending field, when there is one), :class:`NotFound` →
404, :class:`Forbidden` → 403, :class:`Conflict` → 409, :class:`Gone` → 410, :class:`Limited` → 429. ``code`` is the
problem's stable machine-readable reason; ``title`` its short human one. A rule that checks several fields at once
lists them all in ``errors`` (``{"field", "message"}`` each) instead of naming one ``field``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar


class DomainError(Exception):
    status: ClassVar[int] = 400
    title: ClassVar[str] = "Refused"

    def __init__(
        self,
        message: str,
        *,
        code: str,
        field: str | None = None,
        errors: list[dict[str, Any]] | None = None,
        **details: Any,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.field = field
        self.errors = errors
        self.details = details


class Invalid(DomainError):
    """The command breaks a rule of its own content (a date range backwards, an unknown subject)."""

    status = 422
    title = "Invalid request"


class NotFound(DomainError):
    """The object does not exist, or the caller may not know that it does."""

    status = 404
    title = "Not found"


class Forbidden(DomainError):
    """The caller is known but may not do this to this object."""

    status = 403
    title = "Forbidden"


class Conflict(DomainError):
    """The object's current state refuses the command (already decided, full, a stale version)."""

    status = 409
    title = "Conflict"


class Gone(DomainError):
    """The object existed and no longer accepts anything (an expired code, a withdrawn resource)."""

    status = 410
    title = "Gone"


class Limited(DomainError):
    """Too many attempts: the caller must wait (``retry_after`` seconds, when known)."""

    status = 429
    title = "Too many requests"

    def __init__(self, message: str, *, code: str, retry_after: int | None = None, **details: Any) -> None:
        super().__init__(message, code=code, **details)
        self.retry_after = retry_after


@contextmanager
def invalid_input(field: str, *, code: str) -> Iterator[None]:
    """A parser's ``ValueError`` (a phone number, an ID number, an org code that is not one) as the :class:`Invalid`
    of the request field it read: the one mapping of such errors, instead of a try/except at each call."""
    try:
        yield
    except ValueError as exc:
        raise Invalid(str(exc), code=code, field=field) from None
