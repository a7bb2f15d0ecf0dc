"""The upload policy: a presigned POST pinned to the key (under the student's prefix), the exact type and size
limit; media never pass through the service."""

from __future__ import annotations

import uuid
from typing import Any

from classgroups.access import Caller
from classgroups.domain.media import MediaKind, check_upload_request
from classgroups.handlers.checkins.base import CheckinHandler


class Uploads(CheckinHandler):
    async def presign(
        self,
        class_id: str,
        task_id: str,
        caller: Caller,
        student_id: str | None,
        kind: MediaKind,
        content_type: str,
        size: int,
    ) -> dict[str, Any]:
        student = await self._for_student(caller, class_id, student_id)
        task = await self._task(class_id, task_id)
        check_upload_request(kind, content_type, size, self.uploads.limits, "")
        key = self._prefix(task, student) + f"{uuid.uuid4().hex}"
        upload = self.objects.presign_upload(
            key, content_type, self.uploads.limits.max_bytes(kind), self.uploads.expires_seconds
        )
        return {
            "key": key,
            "url": upload.url,
            "fields": upload.fields,
            "max_bytes": self.uploads.limits.max_bytes(kind),
            "expires_in": self.uploads.expires_seconds,
        }
