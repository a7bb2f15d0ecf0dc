"""The OpenID Connect provider's records: relying parties (``clients``), authorization codes and their single use
(``codes``), the scopes users consented to (``consents``)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime

from identity.domain.oidc import AuthorizationCode, Client
from identity.store.base import Collections


class OidcStore(Collections):
    # --- clients -------------------------------------------------------------------------------------------
    async def save_client(self, client: Client) -> None:
        await self.db["clients"].insert_one({"_id": f"client:{client.client_id}", **asdict(client)})

    async def client(self, client_id: str) -> Client | None:
        doc = await self._fields("clients", f"client:{client_id}")
        return Client(**{**doc, "allowed_scopes": tuple(doc["allowed_scopes"])}) if doc else None

    async def set_client_active(self, client_id: str, active: bool) -> bool:
        result = await self.db["clients"].update_one({"_id": f"client:{client_id}"}, {"$set": {"active": active}})
        return result.matched_count == 1

    # --- authorization codes ----------------------------------------------------------------------------------
    async def save_code(self, code: AuthorizationCode) -> None:
        await self.db["codes"].insert_one({"_id": f"code:{code.digest}", **asdict(code)})

    async def take_code(self, digest: str) -> AuthorizationCode | None:
        """The code, once: the insert of its use marker is the atomic claim."""
        doc = await self._fields("codes", f"code:{digest}", "auth_time", "expires_at")
        if not doc or not await self._insert("codes", {"_id": f"code-used:{digest}"}):
            return None
        return AuthorizationCode(**doc)

    # --- consents ----------------------------------------------------------------------------------------------
    async def consented_scopes(self, user_id: str, client_id: str) -> set[str]:
        doc = await self._get("consents", f"consent:{user_id}:{client_id}")
        return set(doc["scopes"]) if doc else set()

    async def save_consent(self, user_id: str, client_id: str, scopes: set[str]) -> None:
        _id = f"consent:{user_id}:{client_id}"
        doc = {
            "_id": _id,
            "user_id": user_id,
            "client_id": client_id,
            "scopes": sorted(scopes),
            "at": datetime.now(UTC),
        }
        await self.db["consents"].replace_one({"_id": _id}, doc, upsert=True)

    async def withdraw_consent(self, user_id: str, client_id: str) -> bool:
        result = await self.db["consents"].delete_one({"_id": f"consent:{user_id}:{client_id}"})
        return result.deleted_count == 1
