"""Guardian links and their one decision (``glinks``)."""

from __future__ import annotations

from dataclasses import asdict

from common.contracts.base import Event
from identity.domain.guardians import GuardianLink
from identity.store.base import Collections


class LinkStore(Collections):
    async def request(self, link: GuardianLink) -> bool:
        """False when the link was requested before."""
        return await self._insert("glinks", {"_id": link.id, **asdict(link)})

    async def decide(self, link: GuardianLink, *events: Event) -> bool:
        """Record ``link``'s decision once: the insert of ``glink-decision:…`` is the transition (a conditional
        update is not atomic on FerretDB), so of parallel approvals exactly one gets True, and the ``events``
        inserted with it."""
        decision = {"status": link.status, "decided_by": link.decided_by, "approver_role": link.approver_role}
        decision_id = link.id.replace("glink:", "glink-decision:", 1)
        if not await self._insert_announced("glinks", {"_id": decision_id, **decision}, events):
            return False
        await self.db["glinks"].update_one({"_id": link.id}, {"$set": decision})  # only the winner writes
        return True

    async def guardians_of(self, child_id: str) -> list[str]:
        """The approved guardians of a child (for the child's account snapshot)."""
        return (await self.guardians_of_many([child_id])).get(child_id, [])

    async def guardians_of_many(self, child_ids: list[str]) -> dict[str, list[str]]:
        """Child id → approved guardians, for a page of accounts in one query."""
        out: dict[str, list[str]] = {}
        query = {"child_id": {"$in": child_ids}, "status": "approved"}
        async for d in self.db["glinks"].find(query, {"parent_id": 1, "child_id": 1}):
            out.setdefault(d["child_id"], []).append(d["parent_id"])
        return out

    async def link(self, parent_id: str, child_id: str) -> GuardianLink | None:
        doc = await self._fields("glinks", f"glink:{child_id}:{parent_id}", "requested_at")
        return GuardianLink(**doc) if doc else None
