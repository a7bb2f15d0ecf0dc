"""Classes (``classes``), memberships (``members``) and the one administrative class of a student per school
and school year (``claims/adm:<school>:<year>:<student>``, inserted before the membership)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from classgroups.domain.classes import ClassGroup, Membership
from classgroups.store.base import Collections, Stale
from common.contracts import Event
from common.store import insert_new


class ClassStore(Collections):
    async def create_class(self, cls: ClassGroup, events: list[Event]) -> None:
        await self.insert_announced("classes", [_class_doc(cls)], {cls.id: events})

    async def save_class(self, before: ClassGroup, after: ClassGroup, events: list[Event]) -> None:
        fields = {k: v for k, v in _class_doc(after).items() if k not in ("_id", "v")}
        await self.update_announced("classes", after.id, before.version, fields, events)

    async def get_class(self, class_id: str) -> ClassGroup | None:
        doc = await self.db["classes"].find_one({"_id": class_id})
        return _class(doc) if doc else None

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
        doc = await self.db["members"].find_one({"_id": f"{class_id}:{account_id}"})
        return _membership(doc) if doc else None

    async def members(self, class_id: str, status: str | None = "active") -> list[Membership]:
        query: dict[str, Any] = {"class_id": class_id}
        if status:
            query["status"] = status
        return [_membership(d) async for d in self.db["members"].find(query).sort("_id", 1)]

    async def memberships_of(self, account_id: str) -> list[Membership]:
        cursor = self.db["members"].find({"account_id": account_id, "status": "active"})
        return [_membership(d) async for d in cursor]

    async def open_memberships_of(self, account_id: str) -> list[Membership]:
        """Active memberships, open invitations and join requests of the account."""
        query = {"account_id": account_id, "status": {"$in": ["active", "pending", "invited"]}}
        return [_membership(d) async for d in self.db["members"].find(query)]

    async def add_memberships(self, memberships: list[Membership]) -> set[str]:
        """Insert new memberships; returns the account ids that already had a membership document."""
        docs = [_membership_doc(m) for m in memberships]
        existed = await self.insert_announced(
            "members", docs, {d["_id"]: list(m.events) for d, m in zip(docs, memberships, strict=True)}
        )
        return {i.split(":", 1)[1] for i in existed}

    async def save_membership(self, before: Membership | None, after: Membership) -> None:
        """The membership's next state: inserted if there was none (:class:`Stale` if another writer was first)."""
        if before is None:
            if await self.add_memberships([after]):
                raise Stale(f"{after.class_id}:{after.account_id}")
            return
        doc = _membership_doc(after)
        fields = {k: doc[k] for k in ("status", "via", "since")}
        await self.update_announced("members", doc["_id"], before.version, fields, list(after.events))

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
