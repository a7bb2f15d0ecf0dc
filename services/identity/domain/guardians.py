"""Parent–child links (家长绑定): a parent asks; the student's head teacher (班主任) or a school admin
approves, or the student themselves when old enough (``self_approval_age``, a setting)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal

from common.auth import MINISTRY_ADMIN, Principal
from common.problems import Problem
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
        raise Problem(403, "Only parent accounts can ask for a link", code="not_a_parent")
    if child.kind != "student" or not child.active:
        raise Problem(
            422,
            "The child must be an active student account",
            errors=[{"field": "body.child_id", "message": "not an active student", "code": "child"}],
        )


def approver_role(who: Principal, child: Account, link: GuardianLink, *, today: date, self_approval_age: int) -> str:
    """The capacity in which ``who`` approves, or a 403 problem."""
    if who.subject == link.parent_id:
        raise Problem(403, "A parent cannot approve their own request", code="self_approval")
    if who.subject == child.id:
        age = child.age_on(today)
        if age is not None and age >= self_approval_age:
            return "student"
        raise Problem(
            403,
            "The student is too young to approve",
            code="too_young",
            detail=f"Students approve their own links from age {self_approval_age}.",
        )
    if child.school is None:
        raise Problem(409, "The student belongs to no school yet", code="no_school")
    if who.has_role("head_teacher", org=child.school):
        return "head_teacher"
    if who.has_role(*ADMIN_ROLE_LEVEL, MINISTRY_ADMIN, org=child.school):
        return "school_admin"
    who.require("head_teacher", *ADMIN_ROLE_LEVEL, org=child.school)
    raise AssertionError("unreachable")
