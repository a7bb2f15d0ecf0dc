"""The organisation hierarchy: its nodes (``orgs``) and the national claims of school codes (``orgcodes``)."""

from __future__ import annotations

from pymongo import ReplaceOne

from common.store import bulk_write
from identity.domain.orgs import OrgNode
from identity.store.base import Collections


def _doc(node: OrgNode) -> dict[str, str]:
    return {"_id": f"org:{node.path}", "path": node.path, "name": node.name}


class OrgStore(Collections):
    async def insert(self, node: OrgNode) -> bool:
        """A new node; False when the path exists (never overwrites, unlike the seed's :meth:`save`)."""
        return await self._insert("orgs", _doc(node))

    async def save(self, nodes: list[OrgNode]) -> None:
        if nodes:
            await bulk_write(
                self.db["orgs"], [ReplaceOne({"_id": f"org:{n.path}"}, _doc(n), upsert=True) for n in nodes]
            )

    async def all(self) -> list[OrgNode]:
        return [OrgNode(d["path"], d["name"]) async for d in self.db["orgs"].find({})]

    async def school_codes(self) -> dict[str, str]:
        """Every claimed school code and the path holding it (one read at start)."""
        return {d["_id"].removeprefix("school:"): d["path"] async for d in self.db["orgcodes"].find({})}

    async def claim_school_code(self, code: str, path: str) -> str:
        """Claims a school code nationally for ``path``; returns the path that holds it (another one: taken)."""
        return await self._holder("orgcodes", {"_id": f"school:{code}", "path": path}, "path")

    async def release_school_code(self, code: str, path: str) -> None:
        await self.db["orgcodes"].delete_one({"_id": f"school:{code}", "path": path})
