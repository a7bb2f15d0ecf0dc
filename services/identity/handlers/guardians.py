"""Guardian links (家长绑定): a parent asks, the student (old enough), their head teacher or a school admin
approves, once."""

from __future__ import annotations

from common.auth import Principal
from common.contracts.identity import GuardianLinked
from common.errors import Conflict, NotFound
from identity.domain.guardians import GuardianLink, approver_role, check_request
from identity.domain.snapshots import snapshot
from identity.handlers.base import Handler, now


def link_decided() -> Conflict:
    return Conflict("Link already decided", code="link_decided")


class Guardians(Handler):
    async def request_link(self, who: Principal, child_id: str) -> GuardianLink:
        parent = await self.identity.accounts.me(who)
        child = await self.store.accounts.account(child_id)
        if child is None:
            raise NotFound("Student not found", code="account_not_found")
        check_request(parent, child)
        link = GuardianLink(parent.id, child.id, "pending", now())
        if not await self.store.links.request(link):
            raise Conflict("Link already requested", code="duplicate_link")
        return link

    async def approve_link(self, who: Principal, parent_id: str, child_id: str) -> GuardianLink:
        link = await self.store.links.link(parent_id, child_id)
        child = await self.store.accounts.account(child_id)
        if link is None or child is None:
            raise NotFound("Link request not found", code="link_not_found")
        if link.status != "pending":
            raise link_decided()
        role = approver_role(who, child, link, today=now().date(), self_approval_age=self.s.guardian_self_approval_age)
        link.status, link.decided_by, link.approver_role = "approved", who.subject, role
        linked = GuardianLinked(
            user_id=child_id,
            occurred_at=now(),
            guardian_id=parent_id,
            approved_by=who.subject,
            approver_role=role,  # type: ignore[arg-type]
        )
        # the child's snapshot now names this guardian too (the same write as the decision: the outbox)
        guardians = (*await self.store.links.guardians_of(child_id), parent_id)
        if not await self.store.links.decide(
            link, linked, snapshot(child, guardians, now())
        ):  # a parallel approval decided it: its event alone
            raise link_decided()
        await self.store.audit.record(who.subject, "guardian.approve", child_id, parent=parent_id, role=role)
        return link
