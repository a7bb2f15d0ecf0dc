"""Who may act on whose account (view, deactivate, grant, revoke): a pure policy over roles and org paths.

The platform's roles form a lattice: a rank per role name, and a scope (an org path; ``None`` is ministry-wide)
that covers its subtree. An actor acts on another account only through an admin role that

- covers **every** place the target belongs to (each of its roles' scopes and its school; an account that
  belongs nowhere belongs to the national level, so only a ministry admin covers it), and
- **outranks** every role the target holds there (a school admin acts on students and teachers, not on another
  school admin; a county admin on school admins of the county, not on another county admin). Ministry admins
  are the root of trust: they act on each other too, or a rogue one could never be removed.

Granting is the same rule applied to the target, plus the role granted must rank below the actor's own (see
:func:`identity.domain.orgs.check_grant` for which role goes at which level). A scoped admin never pulls an
account in by granting it a role: a target that belongs nowhere yet receives an *invitation* it accepts itself
(its consent), and a target that belongs elsewhere cannot be reached at all.

Nothing here does I/O; the service calls these checks first in each use case.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from common.auth import MINISTRY_ADMIN, ORG_ADMIN_ROLES, Role, org_covers
from common.errors import Forbidden

MEMBER = "member"
"""The rank of belonging to a school without a role (``Account.school`` alone), or to no org at all."""

RANK: dict[str, int] = {
    "student": 10,
    "parent": 10,
    MEMBER: 10,
    "teacher": 20,
    "head_teacher": 20,
    "catalog_editor": 25,
    "catalog_reviewer": 25,
    "school_admin": 30,
    "county_admin": 40,
    "city_admin": 50,
    "province_admin": 60,
    MINISTRY_ADMIN: 70,
}
ADMIN_ROLES = ORG_ADMIN_ROLES
TOP = RANK[MINISTRY_ADMIN]


def rank(role_name: str) -> int:
    """Unknown role names rank highest but one: nobody below a ministry admin acts on what they do not know."""
    return RANK.get(role_name, TOP - 1)


def holdings(roles: Iterable[Role], school: str | None) -> list[Role]:
    """Everything that places an account somewhere: its roles, and its school membership. An account that
    belongs nowhere is a member at the national level (``org=None``): only a ministry admin covers it."""
    out = list(roles)
    if school is not None and not any(r.org == school for r in out):
        out.append(Role(name=MEMBER, org=school))
    return out or [Role(name=MEMBER, org=None)]


def affiliated(roles: Iterable[Role], school: str | None) -> bool:
    return school is not None or any(True for _ in roles)


def governs(actor: Role, held: Role) -> bool:
    """Whether one admin role of the actor may act on one role the target holds."""
    if actor.name not in ADMIN_ROLES or not org_covers(actor.org, held.org):
        return False
    if actor.name == MINISTRY_ADMIN and actor.org is None:
        return True
    return rank(actor.name) > rank(held.name)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str = ""  # out_of_scope | outranked | missing_role

    def __bool__(self) -> bool:
        return self.allowed


def may_act_on(actor_roles: Iterable[Role], target_roles: Iterable[Role], target_school: str | None) -> Decision:
    """The actor acts on the target only if every holding of the target is governed by one of the actor's
    admin roles (not necessarily the same one: an admin of two schools acts on a pupil of both)."""
    actor = [r for r in actor_roles if r.name in ADMIN_ROLES]
    if not actor:
        return Decision(False, "missing_role")
    for held in holdings(target_roles, target_school):
        if not any(governs(a, held) for a in actor):
            covered = any(org_covers(a.org, held.org) for a in actor)
            return Decision(False, "outranked" if covered else "out_of_scope")
    return Decision(True)


def may_grant_rank(actor_roles: Iterable[Role], role: str, org: str | None) -> bool:
    """The role granted (or revoked) at ``org`` ranks below an admin role of the actor covering ``org``
    (ministry admins may grant ministry admin)."""
    return any(governs(a, Role(name=role, org=org)) for a in actor_roles)


def needs_consent(actor_roles: Iterable[Role], target_roles: Iterable[Role], target_school: str | None) -> bool:
    """A scoped admin's grant to an account that belongs nowhere becomes an invitation the account accepts.
    A ministry admin governs unaffiliated accounts already (they are national), so its grants apply at once."""
    actor = list(actor_roles)
    is_ministry = any(r.name == MINISTRY_ADMIN and r.org is None for r in actor)
    return not is_ministry and not affiliated(list(target_roles), target_school)


def require_act_on(
    actor_roles: Iterable[Role], target_roles: Iterable[Role], target_school: str | None, *, unaffiliated_ok: bool
) -> None:
    """Raise :class:`Forbidden` unless :func:`may_act_on`. ``unaffiliated_ok``: a grant to an account that belongs
    nowhere is let through here; it becomes an invitation (see :func:`needs_consent`)."""
    actor_roles, target_roles = list(actor_roles), list(target_roles)
    if (
        unaffiliated_ok
        and not affiliated(target_roles, target_school)
        and any(r.name in ADMIN_ROLES for r in actor_roles)
    ):
        return
    decision = may_act_on(actor_roles, target_roles, target_school)
    if not decision:
        raise Forbidden(
            "The account belongs (also) outside your organisation, or holds a role not below yours.",
            code=decision.reason,
            reason=decision.reason,
        )
