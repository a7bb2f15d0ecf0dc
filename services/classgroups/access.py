"""Object-level access, the one helper every handler of the service uses: how the caller stands to a class, to
a student, to a school.

Relations to a class:

- ``admin``: an admin role (school, county, city, province, ministry) whose scope covers the class's school
  (administrative classes; an online class belongs to no school, so only a ministry-wide admin);
- ``head_teacher``, ``teacher`` (head, subject teacher or owner), ``owner`` (online classes), ``leave_delegate``
  (the subject teacher the head teacher named to decide leave requests);
- ``member``: an active student of the class; ``invited``, ``pending``: an open invitation or join request;
- ``guardian``: a guardian (identity's guardian links) of an active member.

A caller with no relation at all learns 404, as if the class did not exist (a member of class A cannot probe
class B's ids); one with some relation but not the required one learns 403.
"""

from __future__ import annotations

from dataclasses import dataclass

from classgroups.domain.classes import ClassGroup, Membership
from classgroups.domain.directory import Account
from classgroups.domain.studios import Studio, StudioMember
from classgroups.store import ClassGroupsStore
from common.auth import ORG_ADMIN_ROLES, Principal
from common.errors import Conflict, Forbidden, NotFound

ADMIN, HEAD, TEACHER, OWNER, MEMBER, GUARDIAN = "admin", "head_teacher", "teacher", "owner", "member", "guardian"
DELEGATE = "leave_delegate"
LEADER = "leader"  # of a famous-teacher studio (名师工作室); its members are MEMBER, its applicants PENDING
INVITED, PENDING = "invited", "pending"
ANYONE_IN = frozenset({ADMIN, HEAD, TEACHER, OWNER, MEMBER, GUARDIAN})
STAFF = frozenset({ADMIN, HEAD, TEACHER, OWNER})


@dataclass(frozen=True)
class Caller:
    """The signed-in caller. Its directory entry (``account``) is read only by the few commands that need it (an
    online class's owner, a join): most requests need only the token's subject and roles."""

    principal: Principal

    @property
    def id(self) -> str:
        return self.principal.subject

    def admin_of(self, school: str | None) -> bool:
        return self.principal.has_role(*ORG_ADMIN_ROLES, org=school)


@dataclass(frozen=True)
class Standing:
    """How the caller stands to one class: the class, the relations, the caller's own membership."""

    cls: ClassGroup
    relations: frozenset[str]
    membership: Membership | None


@dataclass(frozen=True)
class StudioStanding:
    """How the caller stands to one studio: leader, member (active), pending (an application waits)."""

    studio: Studio
    relations: frozenset[str]
    member: StudioMember | None


class ClassAccess:
    def __init__(self, store: ClassGroupsStore) -> None:
        self.store = store

    async def caller(self, principal: Principal) -> Caller:
        return Caller(principal)

    async def account(self, caller: Caller) -> Account | None:
        """The caller as the directory knows it (identity's events)."""
        return await self.store.directory.account(caller.id)

    async def relations(self, caller: Caller, cls: ClassGroup) -> Standing:
        rel: set[str] = set()
        if caller.admin_of(cls.school):
            rel.add(ADMIN)
        if caller.id == cls.head_teacher:
            rel.add(HEAD)
        if caller.id in cls.teachers():
            rel.add(TEACHER)
        if caller.id == cls.owner:
            rel.add(OWNER)
        if caller.id == cls.leave_delegate:
            rel.add(DELEGATE)
        membership = await self.store.classes.membership(cls.id, caller.id)
        if membership is not None and membership.status == "active":
            rel.add(MEMBER)
        elif membership is not None and membership.status in (INVITED, PENDING):
            rel.add(membership.status)
        if not rel and await self._guardian_of_member(caller, cls):
            rel.add(GUARDIAN)
        return Standing(cls, frozenset(rel), membership)

    async def require(self, caller: Caller, class_id: str, allowed: frozenset[str] | set[str]) -> Standing:
        """The class and the caller's standing, if the caller holds one of ``allowed``; 404 when the caller has
        no relation to it at all (or it does not exist), 403 when some other relation."""
        cls = await self.store.classes.get_class(class_id)
        if cls is None:
            raise NotFound("No such class.", code="class_not_found")
        standing = await self.relations(caller, cls)
        if standing.relations & allowed:
            return standing
        if standing.relations:
            raise Forbidden("Your place in this class does not allow this.", code="not_allowed")
        raise NotFound("No such class.", code="class_not_found")

    async def require_administrative(
        self, caller: Caller, class_id: str, allowed: frozenset[str] | set[str]
    ) -> Standing:
        """As :meth:`require`, for what only administrative classes have (leave, evaluation, interaction)."""
        standing = await self.require(caller, class_id, allowed)
        if not standing.cls.administrative:
            raise Conflict("Only administrative classes have this.", code="not_administrative")
        return standing

    async def require_on_roster(self, class_id: str, student: str) -> None:
        membership = await self.store.classes.membership(class_id, student)
        if membership is None or membership.status != "active":
            raise NotFound("The student is not in this class.", code="student_not_found")

    async def _guardian_of_member(self, caller: Caller, cls: ClassGroup) -> bool:
        children = await self.store.directory.children_of(caller.id)
        for child in children:
            m = await self.store.classes.membership(cls.id, child)
            if m is not None and m.status == "active":
                return True
        return False

    async def require_student_view(self, caller: Caller, student_id: str) -> None:
        """The caller is the student, or one of the student's guardians (parents see only their own child)."""
        if caller.id == student_id or await self.store.directory.is_guardian(caller.id, student_id):
            return
        raise NotFound("No such student among yours.", code="student_not_found")

    def require_school_admin(self, caller: Caller, school: str) -> None:
        if not caller.admin_of(school):
            raise Forbidden("Requires an admin role covering the school.", code="not_school_admin")

    async def require_studio(
        self, caller: Caller, studio_id: str, allowed: frozenset[str] | set[str]
    ) -> StudioStanding:
        """The studio and the caller's standing, if the caller holds one of ``allowed``. A studio is public (its
        page lists it), so a caller without the relation learns 403, not 404; an unknown id 404."""
        studio = await self.store.studios.studio(studio_id)
        if studio is None:
            raise NotFound("No such studio.", code="studio_not_found")
        member = await self.store.studios.member(studio.id, caller.id)
        rel: set[str] = {LEADER} if caller.id == studio.leader else set()
        if member is not None and member.status == "active":
            rel.add(MEMBER)
        elif member is not None and member.status == PENDING:
            rel.add(PENDING)
        if not rel & allowed:
            raise Forbidden("Your place in this studio does not allow this.", code="not_allowed")
        return StudioStanding(studio, frozenset(rel), member)
