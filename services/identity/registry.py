"""Adapter to the national teacher management information system (全国教师管理信息系统), and a small fake
of it for local runs and tests, served behind the SAME adapter (``IDENTITY_TEACHER_REGISTRY_URL``).

Wire contract assumed for the registry: ``POST /v1/teachers/verify`` with ``{"national_id", "name"}`` →
``{"found": bool, "name_matches": bool, "school_code": str | null, "status": str | null}``. Only this
module knows it; the domain sees :class:`RegistryAnswer`.
"""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from pydantic import BaseModel

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


class _Query(BaseModel):
    national_id: str
    name: str


def fake_registry_app(records: dict[str, tuple[str, str, str]] | None = None) -> FastAPI:
    """``records``: national ID → (name, school code, status). Run with
    ``uvicorn --factory identity.registry:fake_registry_app --port 8199``."""
    data = (
        records
        if records is not None
        else {
            "11010519491231002X": ("李明", "school-430102001", "active"),
            "430102198001010011": ("王芳", "school-430102002", "active"),
        }
    )
    app = FastAPI(title="Fake national teacher registry")

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/v1/teachers/verify")
    async def verify(q: _Query) -> dict[str, object]:
        rec = data.get(q.national_id)
        if rec is None:
            return {"found": False, "name_matches": False, "school_code": None, "status": None}
        return {"found": True, "name_matches": rec[0] == q.name, "school_code": rec[1], "status": rec[2]}

    return app
