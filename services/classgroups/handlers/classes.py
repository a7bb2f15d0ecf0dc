"""Handlers of classes and their rosters: administrative classes by the school's admins, reads for everyone
who stands in a relation to a class, a parent's view of their child's classes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from classgroups import access as rel
from classgroups.access import Caller, ClassAccess
from classgroups.domain import classes as domain
from classgroups.domain import roster
from classgroups.domain.classes import ClassGroup, Membership
from classgroups.handlers import fresh, now
from classgroups.store import ClassGroupsStore
from common.errors import Conflict, Invalid


@dataclass
class RosterReport:
    added: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)
    bad: list[roster.BadRow] = field(default_factory=list)
    repeated: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "added": len(self.added),
            "already": len(self.already),
            "repeated_lines": self.repeated,
            "bad": [b.as_dict() for b in sorted(self.bad, key=lambda b: b.line)],
        }


class Classes:
    def __init__(self, store: ClassGroupsStore, access: ClassAccess, roster_max_rows: int) -> None:
        self.store, self.access, self.roster_max_rows = store, access, roster_max_rows

    # --- administrative classes ------------------------------------------------------------------------
    async def create_administrative(
        self, caller: Caller, *, school: str, school_year: int, grade: int, name: str
    ) -> ClassGroup:
        self.access.require_school_admin(caller, school)
        cls, events = domain.create_administrative(
            school=school, school_year=school_year, grade=grade, name=name, by=caller.id, at=now()
        )
        await self.store.classes.create_class(cls, events)
        return cls

    async def school_classes(self, caller: Caller, school: str, school_year: int | None) -> list[ClassGroup]:
        self.access.require_school_admin(caller, school)
        return await self.store.classes.classes_of_school(school, school_year)

    async def assign_teachers(
        self, caller: Caller, class_id: str, head_teacher: str | None, subject_teachers: list[tuple[str, str]]
    ) -> ClassGroup:
        standing = await self.access.require(caller, class_id, {rel.ADMIN})
        named = [t for t, _ in subject_teachers] + ([head_teacher] if head_teacher else [])
        accounts = await self.store.directory.accounts(named)
        after, events = domain.assign_teachers(
            standing.cls,
            head_teacher=head_teacher,
            subject_teachers=subject_teachers,
            accounts=accounts,
            by=caller.id,
            at=now(),
        )
        await self._save(standing.cls, after, events)
        return after

    async def _save(self, before: ClassGroup, after: ClassGroup, events: list[object]) -> None:
        with fresh("class"):
            await self.store.classes.save_class(before, after, events)  # type: ignore[arg-type]

    async def import_roster(self, caller: Caller, class_id: str, body: bytes, content_type: str) -> RosterReport:
        """Put the students of a JSONL or CSV file on an administrative class's roster. Idempotent (a second
        import of the same file adds nothing); each bad row is reported, the good ones are kept. A student
        already in another administrative class of the school this school year is a bad row: the place is
        claimed by a unique insert, so two concurrent imports into two classes cannot both take one student."""
        standing = await self.access.require(caller, class_id, {rel.ADMIN})
        cls = standing.cls
        if not cls.administrative:
            raise Conflict("Online classes are joined, not rostered.", code="not_administrative")
        parsed = roster.parse(body, content_type)
        if len(parsed.rows) > self.roster_max_rows:
            raise Invalid(f"At most {self.roster_max_rows} rows per import.", code="too_many_rows", field="body")
        report = RosterReport(bad=list(parsed.bad), repeated=parsed.repeated)
        accounts = await self.store.directory.accounts(a for _, a in parsed.rows)
        eligible: list[tuple[int, str]] = []
        for line, account_id in parsed.rows:
            reason = domain.check_rosterable(cls, accounts.get(account_id))
            if reason:
                report.bad.append(roster.BadRow(line, reason, "account_id"))
            else:
                eligible.append((line, account_id))
        held = await self.store.classes.claim_places(cls, [a for _, a in eligible])
        placed = []
        for line, account_id in eligible:
            other = held.get(account_id)
            if other is not None and other != cls.id:
                report.bad.append(roster.BadRow(line, "in_another_class", "account_id", class_id=other))
            else:
                placed.append(account_id)
        at = now()
        existed = await self.store.classes.add_memberships([domain.rostered(cls, s, caller.id, at) for s in placed])
        for account_id in placed:
            (report.already if account_id in existed else report.added).append(account_id)
        for account_id in existed:  # removed earlier and listed again: back on the roster
            current = await self.store.classes.membership(cls.id, account_id)
            if current is not None and current.status != "active":
                again = domain.rostered(cls, account_id, caller.id, at)
                await self.store.classes.save_membership(current, _next_of(current, again))
                report.already.remove(account_id)
                report.added.append(account_id)
        return report

    async def remove_member(self, caller: Caller, class_id: str, account_id: str) -> Membership:
        """A school admin takes a student off an administrative class's roster (the place is freed), or an
        online class's owner removes a member."""
        standing = await self.access.require(caller, class_id, {rel.ADMIN, rel.OWNER})
        cls = standing.cls
        if cls.administrative and rel.ADMIN not in standing.relations:
            raise Conflict("The school's admins manage this roster.", code="administrative")
        current = await self.store.classes.membership(cls.id, account_id)
        after = domain.leave(cls, current, caller.id, now())
        with fresh("membership"):
            await self.store.classes.save_membership(current, after)
        if cls.administrative:
            await self.store.classes.release_place(cls, account_id)
        return after

    # --- reads -------------------------------------------------------------------------------------------
    async def get(self, caller: Caller, class_id: str) -> tuple[ClassGroup, frozenset[str]]:
        standing = await self.access.require(caller, class_id, rel.ANYONE_IN)
        return standing.cls, standing.relations

    async def roster(self, caller: Caller, class_id: str, status: str) -> list[Membership]:
        """Teachers and admins see every status; members see their classmates (active ones)."""
        standing = await self.access.require(caller, class_id, rel.STAFF | {rel.MEMBER})
        if not standing.relations & rel.STAFF:
            status = "active"
        return await self.store.classes.members(class_id, None if status == "all" else status)

    async def mine(self, caller: Caller) -> list[ClassGroup]:
        ids = [m.class_id for m in await self.store.classes.memberships_of(caller.id)]
        taught = await self.store.classes.classes_taught_by(caller.id)
        found = {c.id: c for c in [*taught, *await self.store.classes.classes(ids)]}
        return sorted(found.values(), key=lambda c: c.id)

    async def of_student(self, caller: Caller, student_id: str) -> list[ClassGroup]:
        """A student's classes, for the student or a guardian (parents see their child's classes)."""
        await self.access.require_student_view(caller, student_id)
        ids = [m.class_id for m in await self.store.classes.memberships_of(student_id)]
        return sorted(await self.store.classes.classes(ids), key=lambda c: c.id)


def _next_of(current: Membership, again: Membership) -> Membership:
    return Membership(
        current.class_id, current.account_id, "active", "roster", again.since, current.version + 1, again.events
    )
