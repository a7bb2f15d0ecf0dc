"""The accounts class groups know, learned from identity's events (it never reads identity's database).

An account's state is a merge of facts that is the same whatever order the facts arrive in and however often:
each role grant or revocation is kept per (role, org) with the time it happened, and the latest wins; a teacher
verification likewise. So a redelivered event (at-least-once) or one recovered by identity's outbox after a newer
one changes nothing it should not, and ``seen`` skips an event id already applied.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

from common.auth import org_covers
from common.contracts.identity import (
    AccountSnapshot,
    RoleGranted,
    RoleRevoked,
    TeacherVerified,
    UserDeactivated,
    UserRegistered,
)

SEEN_KEPT = 64  # event ids remembered per account (redeliveries come close behind the original)
STUDENT, TEACHER = "student", "teacher"


@dataclass(frozen=True)
class Grant:
    role: str
    org: str | None
    held: bool
    at: datetime


@dataclass(frozen=True)
class Account:
    id: str
    kind: str | None = None
    active: bool = True
    verified: bool = False
    verified_at: datetime | None = None
    school: str | None = None
    """The school the national teacher registry lists (verified teachers)."""
    grants: tuple[Grant, ...] = ()
    seen: tuple[str, ...] = field(default=(), repr=False)

    def holds(self, role: str, org: str | None) -> bool:
        """The role is held with a scope covering ``org``."""
        return any(g.held and g.role == role and org_covers(g.org, org) for g in self.grants)

    def is_student_of(self, school: str) -> bool:
        return self.active and self.holds(STUDENT, school)

    def is_verified_teacher(self, school: str | None = None) -> bool:
        """A teacher verified against the national registry (of ``school``, when named)."""
        if not (self.active and self.verified):
            return False
        return school is None or self.school == school or self.holds(TEACHER, school)


def apply(account: Account | None, user_id: str, event: object, event_id: str) -> Account | None:
    """The account after ``event``; None when the event was applied already or says nothing class groups use."""
    current = account or Account(user_id)
    if event_id in current.seen:
        return None
    if isinstance(event, UserRegistered):
        updated = replace(current, kind=event.kind)
    elif isinstance(event, UserDeactivated):
        updated = replace(current, active=False)
    elif isinstance(event, RoleGranted | RoleRevoked):
        updated = _merge(current, Grant(event.role, event.org, isinstance(event, RoleGranted), event.occurred_at))
    elif isinstance(event, AccountSnapshot):
        updated = _from_snapshot(current, event)
    elif isinstance(event, TeacherVerified):
        if current.verified_at is not None and current.verified_at > event.occurred_at:
            updated = current  # an older verdict recovered late
        else:
            verified = event.outcome == "verified"
            updated = replace(current, verified=verified, verified_at=event.occurred_at, school=event.school)
            if verified and event.school:  # identity grants teacher@school with the verification, without an event
                updated = _merge(updated, Grant(TEACHER, event.school, True, event.occurred_at))
    else:
        return None
    return replace(updated, seen=(*current.seen, event_id)[-SEEN_KEPT:])


def _from_snapshot(account: Account, snap: AccountSnapshot) -> Account:
    """An account snapshot (``identity.accounts.v1``: the state identity read at ``occurred_at``) as facts of that
    time: each role it lists held, each role it does not list no longer held, its teacher verification, its
    status (a deactivation is final: a snapshot never makes an account active again). Merged like the events,
    the latest fact wins, so a snapshot older than an event already applied changes nothing that event set."""
    at = snap.occurred_at
    updated = replace(account, kind=snap.kind, active=account.active and snap.status == "active")
    listed = {(r.role, r.org) for r in snap.roles}
    for role, org in listed:
        updated = _merge(updated, Grant(role, org, True, at))
    for g in account.grants:
        if (g.role, g.org) not in listed:
            updated = _merge(updated, Grant(g.role, g.org, False, at))
    decided = snap.teacher_status in ("verified", "rejected")
    if decided and (account.verified_at is None or account.verified_at <= at):
        verified = snap.teacher_status == "verified"
        updated = replace(updated, verified=verified, verified_at=at, school=snap.school if verified else None)
    return updated


def _merge(account: Account, grant: Grant) -> Account:
    same = [g for g in account.grants if (g.role, g.org) == (grant.role, grant.org)]
    if same and same[0].at > grant.at:
        return account
    others = tuple(g for g in account.grants if (g.role, g.org) != (grant.role, grant.org))
    return replace(account, grants=(*others, grant))
