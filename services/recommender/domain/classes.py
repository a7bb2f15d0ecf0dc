"""Classes as class groups announce them on ``classgroups.classes.v1`` (keyed by class id, so in order per class):
who teaches a class (an online class's owner; an administrative class's head teacher and subject teachers) and
who is in it (members joined and left). A teacher's figures cover the students of the classes they teach and
nobody else; class groups' database is never read. Applying an event twice lands in the same state."""

from __future__ import annotations

from dataclasses import dataclass, field

from common.contracts.classgroups import (
    ClassCreated,
    MemberJoined,
    MemberLeft,
    OwnershipTransferred,
    TeachersAssigned,
)

CLASS_EVENTS = (ClassCreated, TeachersAssigned, OwnershipTransferred, MemberJoined, MemberLeft)
ClassEvent = ClassCreated | TeachersAssigned | OwnershipTransferred | MemberJoined | MemberLeft


@dataclass
class Classes:
    members: dict[str, set[str]] = field(default_factory=dict)  # class → accounts in it
    owners: dict[str, str] = field(default_factory=dict)  # online class → its owner
    assigned: dict[str, set[str]] = field(default_factory=dict)  # administrative class → head + subject teachers
    _taught: dict[str, set[str]] = field(default_factory=dict)  # teacher → classes (derived)

    def apply(self, event: ClassEvent) -> None:
        cid = event.class_id
        if isinstance(event, ClassCreated):
            self.members.setdefault(cid, set())
            if event.owner_id:
                self._own(cid, event.owner_id)
        elif isinstance(event, OwnershipTransferred):
            self._own(cid, event.owner_id)
        elif isinstance(event, TeachersAssigned):
            before = self.assigned.get(cid, set())
            after = {t.teacher_id for t in event.subject_teachers}
            if event.head_teacher_id:
                after.add(event.head_teacher_id)
            self.assigned[cid] = after
            for t in before - after:
                self._untaught(t, cid)
            for t in after:
                self._taught.setdefault(t, set()).add(cid)
        elif isinstance(event, MemberJoined):
            self.members.setdefault(cid, set()).add(event.account_id)
        else:
            self.members.setdefault(cid, set()).discard(event.account_id)

    def _own(self, cid: str, owner: str) -> None:
        previous = self.owners.get(cid)
        self.owners[cid] = owner
        if previous and previous != owner:
            self._untaught(previous, cid)
        self._taught.setdefault(owner, set()).add(cid)

    def _untaught(self, teacher: str, cid: str) -> None:
        if self.owners.get(cid) == teacher or teacher in self.assigned.get(cid, ()):
            return  # still teaches it in the other role
        self._taught.get(teacher, set()).discard(cid)

    def taught_by(self, teacher: str) -> set[str]:
        return set(self._taught.get(teacher, ()))

    def members_of(self, cid: str) -> set[str]:
        return set(self.members.get(cid, ()))
