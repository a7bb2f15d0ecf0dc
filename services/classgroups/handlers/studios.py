"""Handlers of famous-teacher studios (名师工作室): see :mod:`classgroups.domain.studios` for the rules. Object-level
access through :meth:`classgroups.access.ClassAccess.require_studio` (leader, member, applicant); the public page
and the public listing need no sign-in and show no person; an admin sees the studios of their area."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from classgroups import access as rel
from classgroups.access import Caller, ClassAccess
from classgroups.domain import studios as domain
from classgroups.domain.studios import Activity, Material, Studio, StudioMember
from classgroups.handlers import fresh, now
from classgroups.handlers.files import Files
from classgroups.store import ClassGroupsStore
from common.errors import Forbidden, Invalid, NotFound

MATERIAL_KINDS = ("photo", "video", "document")
LEADER_OR_MEMBER = frozenset({rel.LEADER, rel.MEMBER})


@dataclass(frozen=True)
class StudioCard:
    """A studio as listed: the studio and how many members it has."""

    studio: Studio
    members: int


@dataclass(frozen=True)
class MaterialIn:
    resource_id: str | None = None
    key: str | None = None
    content_type: str | None = None


class Studios:
    def __init__(self, store: ClassGroupsStore, access: ClassAccess, files: Files) -> None:
        self.store, self.access, self.files = store, access, files

    async def create(self, caller: Caller, *, name: str, intro: str, subject: str | None) -> Studio:
        leader = await self.access.account(caller)
        studio, events = domain.create(name=name, intro=intro, subject=subject, leader=leader, at=now())
        await self.store.studios.create_studio(studio, events)  # type: ignore[arg-type]
        return studio

    # --- public and area listings ----------------------------------------------------------------------
    async def listing(self, *, area: str | None, after: str | None, limit: int) -> list[StudioCard]:
        studios = await self.store.studios.studios(area=area, after=after, limit=limit)
        counts = await self.store.studios.member_counts(s.id for s in studios)
        return [StudioCard(s, counts[s.id]) for s in studios]

    async def in_area(self, caller: Caller, area: str, after: str | None, limit: int) -> list[StudioCard]:
        """A county, city or province admin (or the ministry) sees the studios of the schools in their area."""
        if not caller.admin_of(area):
            raise Forbidden("Requires an admin role covering the area.", code="not_area_admin")
        return await self.listing(area=area, after=after, limit=limit)

    async def page(self, studio_id: str, limit: int) -> tuple[StudioCard, list[dict[str, Any]]]:
        """The public page: the studio, its member count, its shared resources still published."""
        studio = await self._studio(studio_id)
        counts = await self.store.studios.member_counts([studio.id])
        return StudioCard(studio, counts[studio.id]), await self.store.studios.shared(studio.id, limit)

    # --- membership ------------------------------------------------------------------------------------
    async def members(self, caller: Caller, studio_id: str) -> list[StudioMember]:
        standing = await self.access.require_studio(caller, studio_id, LEADER_OR_MEMBER)
        everyone = await self.store.studios.members(standing.studio.id)
        if rel.LEADER in standing.relations:
            return [m for m in everyone if m.status in ("active", "pending")]
        return [m for m in everyone if m.status == "active"]

    async def apply(self, caller: Caller, studio_id: str) -> StudioMember:
        studio = await self._studio(studio_id)
        applicant = await self.access.account(caller)
        return await self._move(studio, caller.id, lambda m: domain.apply(studio, applicant, m, now()))

    async def decide(self, caller: Caller, studio_id: str, account_id: str, approve: bool) -> StudioMember:
        standing = await self.access.require_studio(caller, studio_id, {rel.LEADER})
        studio = standing.studio
        return await self._move(studio, account_id, lambda m: domain.decide(studio, m, approve, caller.id, now()))

    async def leave(self, caller: Caller, studio_id: str) -> StudioMember:
        standing = await self.access.require_studio(caller, studio_id, {rel.MEMBER})
        return await self._move(standing.studio, caller.id, lambda m: domain.leave(standing.studio, m, now()))

    # --- shared resources, uploads, activities -----------------------------------------------------------
    async def share(self, caller: Caller, studio_id: str, resource_id: str) -> dict[str, Any]:
        standing = await self.access.require_studio(caller, studio_id, LEADER_OR_MEMBER)
        published = await self.store.studios.published([resource_id])
        if resource_id not in published:
            raise Invalid("The public catalog holds no such resource.", code="unknown_resource", field="resource_id")
        at = now()
        added = await self.store.studios.share(standing.studio.id, resource_id, caller.id, at)
        return {"resource_id": resource_id, "title": published[resource_id], "added": added}

    async def presign(self, caller: Caller, studio_id: str, content_type: str, size: int) -> dict[str, Any]:
        standing = await self.access.require_studio(caller, studio_id, {rel.LEADER})
        prefix = domain.upload_prefix(standing.studio.id, caller.id)
        return self.files.presign(prefix, content_type, size, MATERIAL_KINDS)

    async def schedule(
        self,
        caller: Caller,
        studio_id: str,
        *,
        title: str,
        agenda: str,
        place: str,
        starts_at: datetime,
        ends_at: datetime,
        materials: list[MaterialIn],
    ) -> Activity:
        standing = await self.access.require_studio(caller, studio_id, {rel.LEADER})
        studio = standing.studio
        checked = await self._materials(studio, caller.id, materials)
        activity, events = domain.schedule(
            studio,
            title=title,
            agenda=agenda,
            place=place,
            starts_at=starts_at,
            ends_at=ends_at,
            materials=checked,
            by=caller.id,
            at=now(),
        )
        await self.store.studios.add_activity(activity, events)  # type: ignore[arg-type]
        return activity

    async def activities(self, caller: Caller, studio_id: str, limit: int) -> list[Activity]:
        standing = await self.access.require_studio(caller, studio_id, LEADER_OR_MEMBER)
        return await self.store.studios.activities(standing.studio.id, limit)

    async def titles(self, activities: list[Activity]) -> dict[str, str | None]:
        """Titles of the catalog resources the activities carry, those still published."""
        ids = [m.ref for a in activities for m in a.materials if m.kind == "resource"]
        return await self.store.studios.published(ids)

    async def _materials(self, studio: Studio, uploader: str, materials: list[MaterialIn]) -> list[Material]:
        resources = [m.resource_id for m in materials if m.resource_id]
        published = await self.store.studios.published(resources)
        out: list[Material] = []
        for i, m in enumerate(materials):
            field = f"materials.{i}"
            if m.resource_id is not None:
                if m.resource_id not in published:
                    raise Invalid("The public catalog holds no such resource.", code="unknown_resource", field=field)
                out.append(Material("resource", m.resource_id))
                continue
            assert m.key is not None and m.content_type is not None
            domain.check_material_key(studio.id, uploader, m.key, f"{field}.key")
            size = await self.files.verify(m.key, m.content_type, MATERIAL_KINDS, field)
            out.append(Material("upload", m.key, m.content_type, size))
        return out

    async def _studio(self, studio_id: str) -> Studio:
        studio = await self.store.studios.studio(studio_id)
        if studio is None:
            raise NotFound("No such studio.", code="studio_not_found")
        return studio

    async def _move(
        self, studio: Studio, account_id: str, step: Callable[[StudioMember | None], StudioMember]
    ) -> StudioMember:
        current = await self.store.studios.member(studio.id, account_id)
        after = step(current)
        with fresh("membership"):
            await self.store.studios.save_member(current, after)
        return after
