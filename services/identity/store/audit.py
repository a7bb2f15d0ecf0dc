"""The audit trail of admin actions, role grants and consents (``audit``, insert only)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from identity.store.base import Collections


class AuditLog(Collections):
    async def record(self, actor: str, action: str, target: str, **details: Any) -> None:
        now = datetime.now(UTC)
        _id = f"audit:{now.isoformat()}:{uuid.uuid4().hex}"
        await self.db["audit"].insert_one(
            {"_id": _id, "at": now, "actor": actor, "action": action, "target": target, **details}
        )
