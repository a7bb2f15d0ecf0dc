"""Routes of class announcements (班级通知) with read receipts."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, ConfigDict, Field

from classgroups.api.deps import CLASS_ID, CallerDep, handlers
from classgroups.domain.announcements import MAX_BODY, MAX_TITLE, Announcement
from common import access

router = APIRouter(prefix="/v1", tags=["announcements"])
ClassId = Annotated[str, Path(pattern=CLASS_ID)]
AnnouncementId = Annotated[str, Path(pattern=r"^ann-[0-9a-f]{16}$")]


class NewAnnouncement(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=MAX_TITLE)
    body: str = Field(min_length=1, max_length=MAX_BODY)


def view(a: Announcement, read: bool | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": a.id,
        "class_id": a.class_id,
        "author_id": a.author,
        "title": a.title,
        "body": a.body,
        "posted_at": a.posted_at.isoformat(),
    }
    if read is not None:
        out["read"] = read
    return out


@router.post("/classes/{class_id}/announcements", status_code=201, summary="Post an announcement (班级通知)")
@access.relation("teacher", target="path.class_id", note="the head teacher, a subject teacher or the owner")
async def post(class_id: ClassId, body: NewAnnouncement, caller: CallerDep, request: Request) -> dict[str, Any]:
    return view(await handlers(request).announcements.post(caller, class_id, body.title, body.body))


@router.get("/classes/{class_id}/announcements", summary="The class's announcements, newest first")
@access.relation("admin", "teacher", "member", "guardian", target="path.class_id")
async def list_(class_id: ClassId, caller: CallerDep, request: Request) -> list[dict[str, Any]]:
    return [view(a, read) for a, read in await handlers(request).announcements.of_class(caller, class_id)]


@router.post(
    "/classes/{class_id}/announcements/{announcement_id}/read", summary="Mark an announcement read (idempotent)"
)
@access.relation("member", "guardian", target="path.class_id", note="a student of the class, or a parent of one")
async def read(
    class_id: ClassId, announcement_id: AnnouncementId, caller: CallerDep, request: Request
) -> dict[str, Any]:
    first = await handlers(request).announcements.read(caller, class_id, announcement_id)
    return {"announcement_id": announcement_id, "first_reading": first}


@router.get(
    "/classes/{class_id}/announcements/{announcement_id}/receipts",
    summary="Who of the class's students has read the announcement, and who has not",
)
@access.relation("teacher", "admin", target="path.class_id")
async def receipts(
    class_id: ClassId, announcement_id: AnnouncementId, caller: CallerDep, request: Request
) -> dict[str, Any]:
    return await handlers(request).announcements.receipts(caller, class_id, announcement_id)
