"""Real-name verification of teachers (教师实名认证) through the national teacher registry (``identity.registry``)."""

from __future__ import annotations

from typing import Any

from common.auth import Principal, Role
from common.contracts.identity import TeacherVerified
from common.errors import Forbidden, invalid_input
from identity.domain import crypto, orgs, teachers
from identity.handlers.base import Handler, now


class Teachers(Handler):
    async def verify(self, who: Principal, national_id: str) -> str:
        """verified | rejected. ``RegistryUnavailable`` when the registry cannot answer (nothing is claimed)."""
        account = await self.identity.accounts.me(who)
        if account.kind != "teacher":
            raise Forbidden("Only teacher accounts are verified", code="not_a_teacher")
        with invalid_input("body.national_id", code="national_id"):
            nid = crypto.normalise_national_id(national_id)
        name = self.identity.accounts.real_name(account)
        # The registry answers first; the ID number is claimed only once it confirmed that it is this person's.
        # A rejection or an unreachable registry claims nothing, so nobody can squat a teacher's ID by trying it.
        answer = await self.identity.registry.verify(nid, name)
        school = self.identity.tree.school_by_code.get(answer.school_code) if answer.school_code else None
        outcome, reason = teachers.judge(answer, school)
        nid_key = f"nid:{self.vault.lookup_hash('nid', nid)}"
        claimed = False
        if outcome == "verified":
            owner = await self.store.accounts.claim_national_id(nid_key, account.id)
            claimed = owner == account.id
            if not claimed:
                # The same answer as any other rejection: the caller learns nothing about who holds the number.
                outcome, reason = "rejected", "already_claimed"
        try:
            fields: dict[str, Any] = {"teacher_status": outcome}
            if outcome == "verified":
                fields["national_id_enc"] = self.vault.encrypt(nid, field="national_id", owner=account.id)
                fields["school"] = school
            await self.store.accounts.update(
                account.id,
                fields=fields,
                add_role=Role(name=orgs.TEACHER, org=school) if outcome == "verified" else None,
                events=(
                    TeacherVerified(
                        user_id=account.id,
                        occurred_at=now(),
                        outcome=outcome,
                        school=school if outcome == "verified" else None,
                        reason=reason,
                    ),
                ),
            )
        except BaseException:
            if claimed:
                await self.store.accounts.release_national_id(nid_key, account.id)
            raise
        if reason == "already_claimed":
            await self.store.audit.record(account.id, "teacher.nid_conflict", account.id)
        return outcome
