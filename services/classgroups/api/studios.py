"""Routes of famous-teacher studios (名师工作室): HTTP only (rules in ``classgroups.domain.studios``, access in
``classgroups.handlers.studios``)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field, model_validator

from classgroups.api.deps import ACCOUNT_ID, ORG_PATH, CallerDep, handlers
from classgroups.domain.studios import Activity, StudioMember
from classgroups.handlers.studios import MaterialIn, StudioCard
from common import access

router = APIRouter(prefix="/v1", tags=["studios"])
STUDIO_ID = r"^std-[0-9a-f]{16}$"
StudioId = Annotated[str, Path(pattern=STUDIO_ID)]
AccountId = Annotated[str, Path(pattern=ACCOUNT_ID)]
After = Annotated[
    str | None, Query(pattern=STUDIO_ID, max_length=20, description="The last studio id of the previous page.")
]
Limit = Annotated[int, Query(ge=1, le=100)]
ResourceId = Annotated[str, Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9_.:-]+$")]
LEADER = "the studio's leader"
LEADER_OR_MEMBER = "the studio's leader or a member"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NewStudio(Strict):
    name: str = Field(min_length=1, max_length=60)
    intro: str = Field("", max_length=2000)
    subject: str | None = Field(None, pattern=r"^[a-z][a-z_]{1,31}$", description="Subject code, e.g. math.")


class Share(Strict):
    resource_id: ResourceId


class UploadIn(Strict):
    content_type: str = Field(
        max_length=100, description="image/jpeg, image/png, image/webp, video/mp4, video/quicktime or application/pdf"
    )
    size: int = Field(gt=0, description="Bytes the client will upload (the policy allows up to the kind's limit).")


class MaterialBody(Strict):
    resource_id: ResourceId | None = Field(None, description="A catalog resource, or:")
    key: str | None = Field(None, min_length=1, max_length=300, description="an object key this studio's upload gave")
    content_type: str | None = Field(None, max_length=100, description="the uploaded object's type")

    @model_validator(mode="after")
    def _one(self) -> MaterialBody:
        if (self.resource_id is None) == (self.key is None):
            raise ValueError("name either resource_id or key")
        if self.key is not None and self.content_type is None:
            raise ValueError("an uploaded material needs its content_type")
        return self


class NewActivity(Strict):
    title: str = Field(min_length=1, max_length=100)
    agenda: str = Field("", max_length=4000)
    place: str = Field("", max_length=200, description="A room, or an online meeting's name.")
    starts_at: datetime
    ends_at: datetime
    materials: list[MaterialBody] = Field(default_factory=list, max_length=20)


def _card(card: StudioCard) -> dict[str, Any]:
    s = card.studio
    return {
        "id": s.id,
        "name": s.name,
        "intro": s.intro,
        "subject": s.subject,
        "area": s.area,
        "members": card.members,
        "created_at": s.created_at.isoformat(),
    }


def _member(m: StudioMember) -> dict[str, Any]:
    return {"studio_id": m.studio_id, "account_id": m.account_id, "status": m.status, "since": m.since.isoformat()}


def _activity(a: Activity, titles: dict[str, str | None], view: Any) -> dict[str, Any]:
    materials = []
    for m in a.materials:
        if m.kind == "resource":
            if m.ref in titles:  # a resource withdrawn since is no longer shown
                materials.append({"kind": "resource", "resource_id": m.ref, "title": titles[m.ref]})
        else:
            materials.append(
                {"kind": "upload", "key": m.ref, "content_type": m.content_type, "size": m.size, "url": view(m.ref)}
            )
    return {
        "id": a.id,
        "studio_id": a.studio_id,
        "title": a.title,
        "agenda": a.agenda,
        "place": a.place,
        "starts_at": a.starts_at.isoformat(),
        "ends_at": a.ends_at.isoformat(),
        "materials": materials,
        "scheduled_by": a.scheduled_by,
    }


@router.post("/studios", status_code=201, summary="Open a famous-teacher studio (名师工作室)")
@access.relation(
    "verified_teacher",
    note="a teacher verified against the national registry; the studio's area is the teacher's school",
)
async def create_studio(body: NewStudio, caller: CallerDep, request: Request) -> dict[str, Any]:
    studio = await handlers(request).studios.create(caller, name=body.name, intro=body.intro, subject=body.subject)
    return _card(StudioCard(studio, 0)) | {"leader_id": studio.leader}


@router.get("/public/studios", summary="Every studio (public: no person named)")
@access.public(note="the studios' names, introductions, areas and member counts; no person")
async def public_studios(request: Request, after: After = None, limit: Limit = 20) -> dict[str, Any]:
    cards = await handlers(request).studios.listing(area=None, after=after, limit=limit)
    return {"studios": [_card(c) for c in cards], "next": cards[-1].studio.id if len(cards) == limit else None}


@router.get("/public/studios/{studio_id}", summary="A studio's public page, with its shared resources")
@access.public(note="the studio and the catalog resources it shares (those still published); no person")
async def public_studio(studio_id: StudioId, request: Request, limit: Limit = 50) -> dict[str, Any]:
    card, shared = await handlers(request).studios.page(studio_id, limit)
    return _card(card) | {"resources": [r | {"shared_at": r["shared_at"].isoformat()} for r in shared]}


@router.get("/studios", summary="The studios of an area (county, city, province admins)")
@access.role(*access.ADMINS, target="query.area", note="an admin whose scope covers the area")
async def area_studios(
    caller: CallerDep,
    request: Request,
    area: Annotated[str, Query(pattern=ORG_PATH, description="An org path, e.g. cn/43 (湖南).")],
    after: After = None,
    limit: Limit = 50,
) -> dict[str, Any]:
    cards = await handlers(request).studios.in_area(caller, area, after, limit)
    out = [_card(c) | {"leader_id": c.studio.leader} for c in cards]
    return {"studios": out, "next": cards[-1].studio.id if len(cards) == limit else None}


@router.get("/studios/{studio_id}/members", summary="Members (and, for the leader, applications)")
@access.relation("leader", "member", target="path.studio_id", note=LEADER_OR_MEMBER)
async def studio_members(studio_id: StudioId, caller: CallerDep, request: Request) -> list[dict[str, Any]]:
    return [_member(m) for m in await handlers(request).studios.members(caller, studio_id)]


@router.post("/studios/{studio_id}/applications", status_code=201, summary="Apply to join a studio")
@access.relation("verified_teacher", note="a verified teacher of any school")
async def apply_to_studio(studio_id: StudioId, caller: CallerDep, request: Request) -> dict[str, Any]:
    return _member(await handlers(request).studios.apply(caller, studio_id))


@router.post("/studios/{studio_id}/members/{account_id}/approve", summary="Approve an application")
@access.relation("leader", target="path.studio_id", note=LEADER)
async def approve_member(
    studio_id: StudioId, account_id: AccountId, caller: CallerDep, request: Request
) -> dict[str, Any]:
    return _member(await handlers(request).studios.decide(caller, studio_id, account_id, True))


@router.post("/studios/{studio_id}/members/{account_id}/reject", summary="Reject an application")
@access.relation("leader", target="path.studio_id", note=LEADER)
async def reject_member(
    studio_id: StudioId, account_id: AccountId, caller: CallerDep, request: Request
) -> dict[str, Any]:
    return _member(await handlers(request).studios.decide(caller, studio_id, account_id, False))


@router.post("/studios/{studio_id}/leave", summary="Leave a studio")
@access.relation("member", target="path.studio_id", note="a member (the leader leads)")
async def leave_studio(studio_id: StudioId, caller: CallerDep, request: Request) -> dict[str, Any]:
    return _member(await handlers(request).studios.leave(caller, studio_id))


@router.post("/studios/{studio_id}/resources", summary="Share a catalog resource (one the catalog publishes)")
@access.relation("leader", "member", target="path.studio_id", note=LEADER_OR_MEMBER)
async def share_resource(studio_id: StudioId, body: Share, caller: CallerDep, request: Request) -> dict[str, Any]:
    return await handlers(request).studios.share(caller, studio_id, body.resource_id)


@router.post("/studios/{studio_id}/uploads", status_code=201, summary="A presigned upload for an activity material")
@access.relation("leader", target="path.studio_id", note=LEADER)
async def material_upload(studio_id: StudioId, body: UploadIn, caller: CallerDep, request: Request) -> dict[str, Any]:
    return await handlers(request).studios.presign(caller, studio_id, body.content_type, body.size)


@router.post("/studios/{studio_id}/activities", status_code=201, summary="Schedule a teaching-research activity")
@access.relation("leader", target="path.studio_id", note=LEADER)
async def schedule_activity(
    studio_id: StudioId, body: NewActivity, caller: CallerDep, request: Request
) -> dict[str, Any]:
    studios = handlers(request).studios
    materials = [MaterialIn(m.resource_id, m.key, m.content_type) for m in body.materials]
    activity = await studios.schedule(
        caller,
        studio_id,
        title=body.title,
        agenda=body.agenda,
        place=body.place,
        starts_at=body.starts_at,
        ends_at=body.ends_at,
        materials=materials,
    )
    return _activity(activity, await studios.titles([activity]), studios.files.view_url)


@router.get("/studios/{studio_id}/activities", summary="Activities with their materials (members only)")
@access.relation("leader", "member", target="path.studio_id", note=LEADER_OR_MEMBER)
async def studio_activities(
    studio_id: StudioId, caller: CallerDep, request: Request, limit: Limit = 50
) -> list[dict[str, Any]]:
    studios = handlers(request).studios
    activities = await studios.activities(caller, studio_id, limit)
    titles = await studios.titles(activities)
    return [_activity(a, titles, studios.files.view_url) for a in activities]
