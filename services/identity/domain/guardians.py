"""Parent–child links (家长绑定): a parent asks; the student's head teacher (班主任) or a school admin
approves, or the student themselves when old enough (``self_approval_age``, a setting)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal

from common.auth import MINISTRY_ADMIN, Principal
from common.errors import Conflict, Forbidden, Invalid
from identity.domain.accounts import Account
from identity.domain.orgs import ADMIN_ROLE_LEVEL

LinkStatus = Literal["pending", "approved", "rejected"]


def link_id(parent_id: str, child_id: str) -> str:
    return f"glink:{child_id}:{parent_id}"


@dataclass
class GuardianLink:
    parent_id: str
    child_id: str
    status: LinkStatus
    requested_at: datetime
    relation: str = "guardian"
    decided_by: str | None = None
    approver_role: str | None = None

    @property
    def id(self) -> str:
        return link_id(self.parent_id, self.child_id)


def check_request(parent: Account, child: Account) -> None:
    if parent.kind != "parent":
        raise Forbidden("Only parent accounts can ask for a link", code="not_a_parent")
    if child.kind != "student" or not child.active:
        raise Invalid("not an active student", code="child", field="body.child_id")


def approver_role(who: Principal, child: Account, link: GuardianLink, *, today: date, self_approval_age: int) -> str:
    """The capacity in which ``who`` approves; :class:`Forbidden` when none."""
    if who.subject == link.parent_id:
        raise Forbidden("A parent cannot approve their own request", code="self_approval")
    if who.subject == child.id:
        age = child.age_on(today)
        if age is not None and age >= self_approval_age:
            return "student"
        raise Forbidden(
            f"The student is too young to approve: students approve their own links from age {self_approval_age}.",
            code="too_young",
        )
    if child.school is None:
        raise Conflict("The student belongs to no school yet", code="no_school")
    if who.has_role("head_teacher", org=child.school):
        return "head_teacher"
    if who.has_role(*ADMIN_ROLE_LEVEL, MINISTRY_ADMIN, org=child.school):
        return "school_admin"
    who.require("head_teacher", *ADMIN_ROLE_LEVEL, org=child.school)
    raise AssertionError("unreachable")
