"""Class announcements (班级通知) and their read receipts.

A teacher of the class posts; the audience is the class's students (as the roster stands when the receipts are
read, so a student who joined later is counted too). A student's own reading counts, and so does a guardian's
(家长已读): for a young child the parent is the reader. The teacher sees who has read and who has not.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from common.contracts.classgroups import AnnouncementPosted

MAX_TITLE, MAX_BODY = 60, 4000


@dataclass(frozen=True)
class Announcement:
    id: str
    class_id: str
    author: str
    title: str
    body: str
    posted_at: datetime


@dataclass(frozen=True)
class Read:
    announcement_id: str
    reader: str
    students: tuple[str, ...]
    """The students this reading counts for: the reader, or the reader's children in the class."""
    at: datetime


def post(class_id: str, author: str, title: str, body: str, at: datetime) -> tuple[Announcement, list[object]]:
    a = Announcement(f"ann-{uuid.uuid4().hex[:16]}", class_id, author, title, body, at)
    return a, [AnnouncementPosted(class_id=class_id, occurred_at=at, announcement_id=a.id, author_id=author)]


def receipts(audience: list[str], reads: list[Read]) -> dict[str, list[dict[str, object]]]:
    """Who of ``audience`` has read (first reading, by whom) and who has not."""
    first: dict[str, Read] = {}
    for r in sorted(reads, key=lambda r: r.at):
        for s in r.students:
            first.setdefault(s, r)
    read = [
        {"account_id": s, "read_at": first[s].at.isoformat(), "by_guardian": first[s].reader != s}
        for s in audience
        if s in first
    ]
    unread = [{"account_id": s} for s in audience if s not in first]
    return {"read": read, "unread": unread}
