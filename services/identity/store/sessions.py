"""Sessions: refresh tokens, their single-use markers and families (``refresh``), and the signing keys (``keys``)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from identity.domain.tokens import RefreshToken, SigningKey
from identity.store.base import Collections, aware


class SessionStore(Collections):
    # --- refresh tokens ----------------------------------------------------------------------------------
    async def save_refresh(self, token: RefreshToken) -> None:
        await self.db["refresh"].insert_one({"_id": f"rt:{token.digest}", **asdict(token)})

    async def refresh(self, digest: str) -> RefreshToken | None:
        doc = await self._fields("refresh", f"rt:{digest}", "issued_at", "expires_at", "auth_time")
        return RefreshToken(**doc) if doc else None

    async def mark_refresh_used(self, digest: str) -> bool:
        """True when this call used it; False when it had been used before (reuse)."""
        return await self._insert("refresh", {"_id": f"rt-used:{digest}", "at": datetime.now(UTC)})

    async def revoke_family(self, family: str, reason: str) -> None:
        # an insert: parallel revocations (a reused token presented twice at once) were a duplicate-key 500 as
        # racing upserts; the first reason stays
        await self._insert(
            "refresh", {"_id": f"fam:{family}", "revoked": True, "reason": reason, "at": datetime.now(UTC)}
        )

    async def family_revoked(self, family: str) -> bool:
        return await self._get("refresh", f"fam:{family}") is not None

    # --- signing keys --------------------------------------------------------------------------------------
    async def save_keys(self, keys: list[tuple[SigningKey, str]]) -> None:
        """(key, encrypted private JWK) pairs."""
        for key, sealed in keys:
            doc = {
                "_id": f"key:{key.kid}",
                "kid": key.kid,
                "private": sealed,
                "status": key.status,
                "created_at": key.created_at,
                "retire_after": key.retire_after,
            }
            await self.db["keys"].replace_one({"_id": doc["_id"]}, doc, upsert=True)

    async def keys(self) -> list[dict[str, Any]]:
        docs = await self.db["keys"].find({}).to_list(None)  # a handful of documents
        for d in docs:
            d["created_at"], d["retire_after"] = aware(d["created_at"]), aware(d.get("retire_after"))
        return docs
