"""Files other than check-in media that go through the object store the same way: leave attachments and studio
materials. The client asks for a presigned POST (key, exact type and size limit pinned by the policy), uploads
the bytes straight to the store, then names the key; on submission the object is read back (``inspect``) and
checked by ``domain.media``: it exists, its size is within the kind's limit, its first bytes are the type claimed."""

from __future__ import annotations

import uuid
from typing import Any

from classgroups.domain.media import FileKind, check_stored, check_upload_request, kind_of
from classgroups.handlers.checkins.base import UploadSettings
from classgroups.media import ObjectStore


class Files:
    def __init__(self, objects: ObjectStore, uploads: UploadSettings) -> None:
        self.objects, self.uploads = objects, uploads

    def presign(self, prefix: str, content_type: str, size: int, allowed: tuple[FileKind, ...]) -> dict[str, Any]:
        """A presigned POST for one new object under ``prefix``."""
        kind = kind_of(content_type, allowed, "content_type")
        check_upload_request(kind, content_type, size, self.uploads.limits, "")
        key = f"{prefix}{uuid.uuid4().hex}"
        limit = self.uploads.limits.max_bytes(kind)
        upload = self.objects.presign_upload(key, content_type, limit, self.uploads.expires_seconds)
        return {
            "key": key,
            "url": upload.url,
            "fields": upload.fields,
            "max_bytes": limit,
            "expires_in": self.uploads.expires_seconds,
        }

    async def verify(self, key: str, content_type: str, allowed: tuple[FileKind, ...], field: str) -> int:
        """The object's size, once it is what the caller claims (else a field problem under ``field``)."""
        kind = kind_of(content_type, allowed, f"{field}.content_type")
        stored = await self.objects.inspect(key)
        check_stored(kind, content_type, stored, self.uploads.limits, field)
        assert stored is not None
        return stored.size

    def view_url(self, key: str) -> str:
        return self.objects.presign_view(key, self.uploads.view_seconds)
