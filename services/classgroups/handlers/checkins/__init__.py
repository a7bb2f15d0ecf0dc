"""Check-ins (打卡) and labour stars (劳动之星): who may do what to which class's tasks (object-level access through
the class's membership), the rules of ``domain.checkins`` and ``domain.media``, the store, the object store. One
handler per group of commands and queries, reached as ``app.state.checkins.<group>``."""

from __future__ import annotations

from dataclasses import dataclass

from classgroups.access import ClassAccess
from classgroups.handlers.checkins.base import UploadSettings, utcnow
from classgroups.handlers.checkins.reviews import Reviews
from classgroups.handlers.checkins.stars import LabourStars
from classgroups.handlers.checkins.streaks import Streaks
from classgroups.handlers.checkins.submissions import Submissions
from classgroups.handlers.checkins.tasks import CheckinTasks
from classgroups.handlers.checkins.uploads import Uploads
from classgroups.media import ObjectStore
from classgroups.store import CheckinStore


@dataclass(frozen=True)
class Checkins:
    """What the check-in routes reach through ``app.state.checkins``."""

    tasks: CheckinTasks
    uploads: Uploads
    submissions: Submissions
    reviews: Reviews
    streaks: Streaks
    stars: LabourStars

    @classmethod
    def build(cls, store: CheckinStore, access: ClassAccess, objects: ObjectStore, uploads: UploadSettings) -> Checkins:
        parts = (store, access, objects, uploads)
        return cls(
            CheckinTasks(*parts),
            Uploads(*parts),
            Submissions(*parts),
            Reviews(*parts),
            Streaks(*parts),
            LabourStars(*parts),
        )


__all__ = ["Checkins", "UploadSettings", "utcnow"]
