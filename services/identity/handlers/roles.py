"""Role grants and revocations over the org tree (audited, each with its event), and the invitations a scoped
admin's grant becomes for an account that belongs to no organisation yet."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from common.auth import Principal, Role
from common.contracts.identity import RoleGranted, RoleRevoked
from common.errors import Conflict, Forbidden, NotFound
from identity.domain import authz, orgs
from identity.domain.accounts import Account
from identity.handlers.accounts import account_not_found
from identity.handlers.base import Handler, now

INVITATION_TTL = timedelta(days=14)


class Roles(Handler):
    async def change(self, who: Principal, user_id: str, role: str, org: str | None, *, grant: bool) -> str:
        """granted | revoked | unchanged | invited (a scoped admin's grant to an account that belongs nowhere
        waits for the account to accept it)."""
        node = self.identity.tree.get(org) if org else None
        orgs.check_grant(who, role, org, node)
        if not authz.may_grant_rank(who.roles, role, org):
            raise Forbidden("The role is not below your own.", code="outranked", reason="outranked")
        account = await self.store.accounts.account(user_id)
        if account is None or not account.active:
            raise account_not_found()
        authz.require_act_on(who.roles, account.roles, account.school, unaffiliated_ok=grant)
        if (
            grant
            and role == "head_teacher"
            and not (
                account.teacher_status == "verified"
                and any(x.name == orgs.TEACHER and x.org == org for x in account.roles)
            )
        ):
            # 只有实名认证的教师才能担任行政班班主任
            raise Conflict("Only verified teachers of this school can head a class", code="teacher_not_verified")
        r = Role(name=role, org=org)
        if grant and authz.needs_consent(who.roles, account.roles, account.school):
            if await self.store.accounts.save_invitation(user_id, r, who.subject, now() + INVITATION_TTL):
                await self.store.audit.record(who.subject, "invite", user_id, role=role, org=org)
            return "invited"
        return await self.apply(account, r, grant=grant, by=who.subject)

    async def apply(self, account: Account, r: Role, *, grant: bool, by: str) -> str:
        """The grant or revocation itself, once its rules passed (also the bootstrap's grant)."""
        # one role added or removed in the stored document (not the copy read before), with its event: concurrent
        # grants, revocations and password changes all survive, and only the request that changed it audits and
        # writes the event (the role's presence is part of the condition: the pushed event alone changes a document)
        accounts = self.store.accounts
        if grant:
            event = RoleGranted(user_id=account.id, occurred_at=now(), role=r.name, org=r.org, granted_by=by)
            changed = await accounts.update(
                account.id, add_role=r, where={"status": "active", "roles": {"$ne": r.claim()}}, events=(event,)
            )
            if changed and r.name in ("student", "head_teacher"):
                await accounts.update(account.id, fields={"school": r.org}, where={"school": None})
        else:
            revoked = RoleRevoked(user_id=account.id, occurred_at=now(), role=r.name, org=r.org, revoked_by=by)
            changed = await accounts.update(account.id, remove_role=r, where={"roles": r.claim()}, events=(revoked,))
        if not changed:
            return "unchanged"
        await self.store.audit.record(by, "grant" if grant else "revoke", account.id, role=r.name, org=r.org)
        return "granted" if grant else "revoked"

    async def invitations(self, who: Principal) -> list[dict[str, Any]]:
        account = await self.identity.accounts.me(who)
        t = now()
        return [
            {"role": d["role"], "expires_at": d["expires_at"].isoformat()}
            for d in await self.store.accounts.invitations(account.id)
            if d["expires_at"] > t
        ]

    async def answer_invitation(self, who: Principal, role: str, org: str | None, *, accept: bool) -> str:
        """The account's consent to (or refusal of) a role a scoped admin offered it. The offer holds only while
        its admin still may grant that role there."""
        account = await self.identity.accounts.me(who)
        r = Role(name=role, org=org)
        invitation = await self.store.accounts.take_invitation(account.id, r)
        if invitation is None or invitation["expires_at"] <= now():
            raise NotFound("Invitation not found", code="invitation_not_found")
        if not accept:
            await self.store.audit.record(account.id, "invite.decline", account.id, role=role, org=org)
            return "declined"
        inviter = await self.store.accounts.account(invitation["invited_by"])
        if inviter is None or not inviter.active or not authz.may_grant_rank(inviter.roles, role, org):
            raise Conflict("Invitation no longer valid", code="invitation_stale")
        return await self.apply(account, r, grant=True, by=inviter.id)
