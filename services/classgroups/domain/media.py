"""What a check-in's media may be, and whether a stored object is what its submitter claims (pure rules).

The client uploads straight to the object store with a presigned POST whose policy fixes the key, the exact
``Content-Type`` and a ``content-length-range``; the store enforces those while the bytes arrive. On
submission the service looks at the object itself (size and first bytes, through ``ObjectStore.inspect``) and
these rules decide: the object exists, its size is within the kind's limit, and its type read from its first
bytes (``filetype``, magic numbers) is the one claimed. A renamed executable or a JPEG claimed as a video is
refused field by field.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import filetype

from common.errors import Invalid

MediaKind = Literal["photo", "video"]
# Leave attachments (a doctor's note) and studio materials may also be PDF documents.
FileKind = Literal["photo", "video", "document"]

# The types clients on the platform produce (phone cameras, screen recordings, scanned notes); HEIC is left out
# because the platform's web clients cannot show it.
CONTENT_TYPES: dict[str, frozenset[str]] = {
    "photo": frozenset({"image/jpeg", "image/png", "image/webp"}),
    "video": frozenset({"video/mp4", "video/quicktime"}),
    "document": frozenset({"application/pdf"}),
}
DOCUMENT_MAX_BYTES = 20 * 1024 * 1024  # a scanned note or a lesson plan; videos have their own (larger) limit
# Bytes `filetype` needs to recognise every type above (its own maximum is 8192; MP4's `ftyp` box is at 4..11).
HEAD_BYTES = 262


@dataclass(frozen=True)
class MediaLimits:
    photo_max_bytes: int
    video_max_bytes: int
    document_max_bytes: int = DOCUMENT_MAX_BYTES

    def max_bytes(self, kind: FileKind) -> int:
        if kind == "document":
            return self.document_max_bytes
        return self.photo_max_bytes if kind == "photo" else self.video_max_bytes


@dataclass(frozen=True)
class StoredObject:
    """What the object store says about an uploaded object."""

    size: int
    content_type: str | None
    head: bytes


def _at(field: str, name: str) -> str:
    return f"{field}.{name}" if field else name


def kind_of(content_type: str, allowed: tuple[FileKind, ...], field: str) -> FileKind:
    """The kind of file a content type is, among ``allowed`` kinds (a refused type is a field problem)."""
    for kind in allowed:
        if content_type in CONTENT_TYPES[kind]:
            return kind
    types = ", ".join(sorted(t for k in allowed for t in CONTENT_TYPES[k]))
    raise Invalid(f"must be one of {types}", code="media_type_refused", field=field)


def check_upload_request(kind: FileKind, content_type: str, size: int, limits: MediaLimits, field: str) -> None:
    """Whether a presigned upload may be issued for this kind, type and announced size."""
    if content_type not in CONTENT_TYPES[kind]:
        allowed = ", ".join(sorted(CONTENT_TYPES[kind]))
        raise Invalid(f"a {kind} must be one of {allowed}", code="media_type_refused", field=_at(field, "content_type"))
    if not 0 < size <= limits.max_bytes(kind):
        raise Invalid(
            f"a {kind} must be 1..{limits.max_bytes(kind)} bytes", code="media_too_large", field=_at(field, "size")
        )


def check_stored(
    kind: FileKind, claimed_type: str, stored: StoredObject | None, limits: MediaLimits, field: str
) -> None:
    """Whether the object behind a submitted key is what the submission says it is."""
    if stored is None:
        raise Invalid("no object was uploaded under this key", code="media_missing", field=f"{field}.key")
    if claimed_type not in CONTENT_TYPES[kind]:
        raise Invalid(f"a {kind} cannot be {claimed_type}", code="media_type_refused", field=f"{field}.content_type")
    if not 0 < stored.size <= limits.max_bytes(kind):
        raise Invalid(f"the {kind} is {stored.size} bytes", code="media_too_large", field=f"{field}.key")
    sniffed = filetype.guess_mime(stored.head)
    if sniffed != claimed_type or (stored.content_type and stored.content_type != claimed_type):
        raise Invalid(
            f"the object is {sniffed or 'of an unknown type'}, not {claimed_type}",
            code="media_type_mismatch",
            field=f"{field}.content_type",
        )
