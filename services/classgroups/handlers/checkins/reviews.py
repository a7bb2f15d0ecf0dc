"""Reviews: a comment, a like (once per teacher), a verdict (excellent or redo, once per version)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from classgroups.access import Caller
from classgroups.handlers.checkins.base import TEACHERS, CheckinHandler
from common.contracts.classgroups import CheckinReviewed
from common.errors import Conflict, Invalid, NotFound


class Reviews(CheckinHandler):
    async def review(
        self, class_id: str, task_id: str, submission_id: str, caller: Caller, action: str, comment: str, now: datetime
    ) -> dict[str, Any]:
        await self.access.require(caller, class_id, TEACHERS)
        await self._task(class_id, task_id)
        sub = await self.store.submission(submission_id)
        if sub is None or sub["task_id"] != task_id:
            raise NotFound("no such submission", code="submission_not_found")
        if action == "comment" and not comment.strip():
            raise Invalid("a comment needs text", code="comment_required", field="comment")
        review_id = {
            "like": f"{submission_id}:like:{caller.id}",
            "excellent": f"{submission_id}:verdict",
            "redo": f"{submission_id}:verdict",
        }.get(action, f"{submission_id}:comment:{uuid.uuid4().hex}")
        doc = {
            "_id": review_id,
            "submission_id": submission_id,
            "task_id": task_id,
            "class_id": class_id,
            "student_id": sub["student_id"],
            "reviewer_id": caller.id,
            "action": action,
            "comment": comment,
            "at": now,
        }
        event = CheckinReviewed(
            submission_id=submission_id,
            task_id=task_id,
            class_id=class_id,
            student_id=sub["student_id"],
            reviewer_id=caller.id,
            action=action,
            reviewed_at=now,  # type: ignore[arg-type]
        )
        if not await self.store.add_review(doc, event):
            if action == "like":
                return doc  # liking twice is liking
            raise Conflict("this version has its verdict already", code="verdict_given")
        return doc
