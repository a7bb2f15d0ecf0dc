"""Classes (``classes``), memberships (``members``) and the one administrative class of a student per school
and school year (``claims/adm:<school>:<year>:<student>``, inserted before the membership).

A class and its memberships are read through the replica's cache (``store.cache``): every write here drops the
class's entry, and the service's own events drop it in the other replicas."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from classgroups.domain.classes import ClassGroup, Membership
from classgroups.store.base import Collections, Stale
from classgroups.store.cache import Cache
from classgroups.store.coalesce import CoalescedReads
from common.contracts import Event
from common.outbox import Outbox
from common.store import insert_new

Known = tuple[ClassGroup | None, dict[str, Membership]]  # a class (None: there is none) and its memberships


class ClassStore(Collections):
    def __init__(self, db: AsyncDatabase, outbox: Outbox, cache_seconds: float = 0.0) -> None:
        super().__init__(db, outbox)
        self.cache: Cache[Known] = Cache(cache_seconds)
        # a student's memberships are a scan on FerretDB (no ``_id`` to look up): the course selections of a window's
        # opening minute, each checking the student's classes, share one
        self._memberships = CoalescedReads(self._active_memberships)

    async def _known(self, class_id: str) -> Known:
        """The class and every membership of it (any status), from the cache or in one load."""
        return await self.cache.get_or_load(class_id, lambda: self._load(class_id))

    async def _load(self, class_id: str) -> Known:
        doc = await self.db["classes"].find_one({"_id": class_id})
        members = {}
        if doc is not None:
            members = {d["account_id"]: _membership(d) async for d in self.db["members"].find({"class_id": class_id})}
        return (_class(doc) if doc else None, members)

    async def create_class(self, cls: ClassGroup, events: list[Event]) -> None:
        try:
            await self.insert_announced("classes", [_class_doc(cls)], {cls.id: events})
        finally:
            self.cache.invalidate(cls.id)

    async def save_class(self, before: ClassGroup, after: ClassGroup, events: list[Event]) -> None:
        fields = {k: v for k, v in _class_doc(after).items() if k not in ("_id", "v")}
        try:
            await self.update_announced("classes", after.id, before.version, fields, events)
        finally:
            self.cache.invalidate(after.id)

    async def get_class(self, class_id: str) -> ClassGroup | None:
        return (await self._known(class_id))[0]

    async def classes(self, ids: Iterable[str]) -> list[ClassGroup]:
        return [_class(d) async for d in self.db["classes"].find({"_id": {"$in": list(ids)}})]

    async def classes_of_school(self, school: str, school_year: int | None) -> list[ClassGroup]:
        query: dict[str, Any] = {"school": school}
        if school_year is not None:
            query["school_year"] = school_year
        return [_class(d) async for d in self.db["classes"].find(query).sort("_id", 1)]

    async def classes_taught_by(self, teacher: str) -> list[ClassGroup]:
        query = {"$or": [{"head_teacher": teacher}, {"owner": teacher}, {"subject_teachers.teacher": teacher}]}
        return [_class(d) async for d in self.db["classes"].find(query)]

    # --- memberships -------------------------------------------------------------------------------------
    async def membership(self, class_id: str, account_id: str) -> Membership | None:
        return (await self._known(class_id))[1].get(account_id)

    async def members(self, class_id: str, status: str | None = "active") -> list[Membership]:
        """In ``_id`` order (``<class>:<account>``: by account id)."""
        known = (await self._known(class_id))[1]
        return [known[a] for a in sorted(known) if status is None or known[a].status == status]

    async def memberships_of(self, account_id: str) -> list[Membership]:
        return await self._memberships.get(account_id) or []

    async def _active_memberships(self, account_ids: list[str]) -> dict[str, list[Membership]]:
        found: dict[str, list[Membership]] = {}
        async for d in self.db["members"].find({"account_id": {"$in": account_ids}, "status": "active"}):
            found.setdefault(d["account_id"], []).append(_membership(d))
        return found

    async def open_memberships_of(self, account_id: str) -> list[Membership]:
        """Active memberships, open invitations and join requests of the account."""
        query = {"account_id": account_id, "status": {"$in": ["active", "pending", "invited"]}}
        return [_membership(d) async for d in self.db["members"].find(query)]

    async def add_memberships(self, memberships: list[Membership]) -> set[str]:
        """Insert new memberships; returns the account ids that already had a membership document."""
        docs = [_membership_doc(m) for m in memberships]
        try:
            existed = await self.insert_announced(
                "members", docs, {d["_id"]: list(m.events) for d, m in zip(docs, memberships, strict=True)}
            )
        finally:
            for class_id in {m.class_id for m in memberships}:
                self.cache.invalidate(class_id)
        return {i.split(":", 1)[1] for i in existed}

    async def save_membership(self, before: Membership | None, after: Membership) -> None:
        """The membership's next state: inserted if there was none (:class:`Stale` if another writer was first)."""
        if before is None:
            if await self.add_memberships([after]):
                raise Stale(f"{after.class_id}:{after.account_id}")
            return
        doc = _membership_doc(after)
        fields = {k: doc[k] for k in ("status", "via", "since")}
        try:
            await self.update_announced("members", doc["_id"], before.version, fields, list(after.events))
        finally:
            self.cache.invalidate(after.class_id)

    # --- the one administrative class of a student per school and school year ---------------------------
    async def claim_places(self, cls: ClassGroup, students: list[str]) -> dict[str, str]:
        """Claim each student's place for ``cls``; returns, for students whose place was claimed already, the
        class holding it (``cls.id`` itself when an earlier import of the same roster claimed it)."""
        docs = [{"_id": _claim_id(cls, s), "class_id": cls.id, "student": s} for s in students]
        taken = await insert_new(self.db["claims"], docs)
        if not taken:
            return {}
        ids = [docs[i]["_id"] for i in taken]
        held = {d["_id"]: d["class_id"] async for d in self.db["claims"].find({"_id": {"$in": ids}})}
        return {docs[i]["student"]: held.get(docs[i]["_id"], "?") for i in taken}

    async def release_place(self, cls: ClassGroup, student: str) -> None:
        await self.db["claims"].delete_one({"_id": _claim_id(cls, student), "class_id": cls.id})


def _claim_id(cls: ClassGroup, student: str) -> str:
    return f"adm:{cls.school}:{cls.school_year}:{student}"


def _class_doc(c: ClassGroup) -> dict[str, Any]:
    return {
        "_id": c.id,
        "kind": c.kind,
        "name": c.name,
        "by": c.created_by,
        "at": c.created_at,
        "v": c.version,
        "school": c.school,
        "school_year": c.school_year,
        "grade": c.grade,
        "head_teacher": c.head_teacher,
        "subject_teachers": [{"teacher": t, "subject": s} for t, s in c.subject_teachers],
        "owner": c.owner,
        "approval": c.approval_required,
        "leave_delegate": c.leave_delegate,
    }


def _class(d: dict[str, Any]) -> ClassGroup:
    return ClassGroup(
        d["_id"],
        d["kind"],
        d["name"],
        d["by"],
        d["at"],
        d["v"],
        d.get("school"),
        d.get("school_year"),
        d.get("grade"),
        d.get("head_teacher"),
        tuple((s["teacher"], s["subject"]) for s in d.get("subject_teachers", ())),
        d.get("owner"),
        d.get("approval", False),
        d.get("leave_delegate"),
    )


def _membership_doc(m: Membership) -> dict[str, Any]:
    return {
        "_id": f"{m.class_id}:{m.account_id}",
        "class_id": m.class_id,
        "account_id": m.account_id,
        "status": m.status,
        "via": m.via,
        "since": m.since,
        "v": m.version,
    }


def _membership(d: dict[str, Any]) -> Membership:
    return Membership(d["class_id"], d["account_id"], d["status"], d["via"], d["since"], d["v"])
