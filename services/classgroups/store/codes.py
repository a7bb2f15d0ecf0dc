"""Join codes of online classes (``codes``, deleted when revoked) and the slots of the join-code failure limit
(``throttle``)."""

from __future__ import annotations

from datetime import datetime

from pymongo.errors import DuplicateKeyError

from classgroups.domain.codes import ClassCode
from classgroups.store.base import Collections
from common.store import insert_new


class CodeStore(Collections):
    async def put_code(self, code: ClassCode) -> bool:
        doc = {"_id": code.code, "class_id": code.class_id, "exp": code.expires_at, "by": code.created_by}
        return not await insert_new(self.db["codes"], [doc])

    async def code(self, code: str) -> ClassCode | None:
        doc = await self.db["codes"].find_one({"_id": code})
        return ClassCode(doc["_id"], doc["class_id"], doc["exp"], doc["by"]) if doc else None

    async def revoke_code(self, class_id: str, code: str) -> bool:
        return (await self.db["codes"].delete_one({"_id": code, "class_id": class_id})).deleted_count > 0

    async def revoke_all(self, class_id: str) -> int:
        return (await self.db["codes"].delete_many({"class_id": class_id})).deleted_count

    async def claim_slot(self, counter: str, cap: int, expires_at: datetime) -> int | None:
        """One of ``cap`` slots of ``counter`` by a unique insert (parallel callers cannot pass the cap)."""
        for n in range(1, cap + 1):
            try:
                await self.db["throttle"].insert_one({"_id": f"{counter}:{n}", "c": counter, "exp": expires_at})
                return n
            except DuplicateKeyError:
                continue
        return None

    async def release_slot(self, counter: str, n: int) -> None:
        await self.db["throttle"].delete_one({"_id": f"{counter}:{n}"})
