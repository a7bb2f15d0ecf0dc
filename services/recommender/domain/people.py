"""Who is who, from identity's events (ids, kinds and org paths only; no personal data): account kinds and the
schools students and teachers belong to. Class groups will bring classes; until their events exist, a teacher's
figures are scoped to the schools where they teach (a verified teacher's school, or a ``teacher`` role's org)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from common.contracts.identity import RoleGranted, RoleRevoked, TeacherVerified, UserRegistered

PEOPLE_EVENTS = (UserRegistered, RoleGranted, RoleRevoked, TeacherVerified)
SCHOOL_ROLES = ("student", "teacher", "head_teacher")


@dataclass
class People:
    kinds: dict[str, str] = field(default_factory=dict)
    schools: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))

    def apply(self, event: UserRegistered | RoleGranted | RoleRevoked | TeacherVerified) -> None:
        if isinstance(event, UserRegistered):
            self.kinds[event.user_id] = event.kind
        elif isinstance(event, RoleGranted):
            if event.role in SCHOOL_ROLES and event.org:
                self.schools[event.user_id].add(event.org)
        elif isinstance(event, RoleRevoked):
            if event.role in SCHOOL_ROLES and event.org:
                self.schools[event.user_id].discard(event.org)
        elif event.outcome == "verified" and event.school:
            self.schools[event.user_id].add(event.school)

    def schools_of(self, user: str) -> set[str]:
        return set(self.schools.get(user, ()))
