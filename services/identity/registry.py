"""Adapter to the national teacher management information system (全国教师管理信息系统) at
``IDENTITY_TEACHER_REGISTRY_URL``. Local runs and tests point it at a fake of the registry that serves the same wire
contract (``deploy/local/teacher_registry.py``): the fake replaces the registry, never this adapter.

Wire contract assumed for the registry: ``POST /v1/teachers/verify`` with ``{"national_id", "name"}`` →
``{"found": bool, "name_matches": bool, "school_code": str | null, "status": str | null}``. Only this
module knows it; the domain sees :class:`RegistryAnswer`.
"""

from __future__ import annotations

import httpx

from identity.domain.teachers import RegistryAnswer


class RegistryUnavailable(Exception):
    pass


class TeacherRegistry:
    def __init__(
        self, base_url: str, *, timeout: float = 5.0, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self._client = httpx.AsyncClient(base_url=base_url, timeout=timeout, transport=transport)

    async def verify(self, national_id: str, name: str) -> RegistryAnswer:
        try:
            r = await self._client.post("/v1/teachers/verify", json={"national_id": national_id, "name": name})
            r.raise_for_status()
            body = r.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise RegistryUnavailable(type(exc).__name__) from None  # never echo the request (PII)
        return RegistryAnswer(
            found=bool(body.get("found")),
            name_matches=bool(body.get("name_matches")),
            school_code=body.get("school_code"),
            status=body.get("status"),
        )

    async def close(self) -> None:
        await self._client.aclose()
