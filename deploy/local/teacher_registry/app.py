"""A fake of the national teacher management information system (全国教师管理信息系统) for local runs and tests: it
serves the registry's wire contract, so identity reaches it through its one adapter (``identity/registry.py``,
``IDENTITY_TEACHER_REGISTRY_URL``) exactly as it reaches the real registry. Never deployed outside a developer's
machine: `make run` starts it (deploy/local/devstack.py), the local Kubernetes overlay runs it from a ConfigMap
(kustomization.yaml beside this file), the tests serve it in-process.

    uvicorn --factory deploy.local.teacher_registry.app:fake_registry_app --port 8199    # from the repository root
"""

from __future__ import annotations

from fastapi import FastAPI
from pydantic import BaseModel

# national ID → (name, school code, status): two teachers of the demo schools
DEMO_TEACHERS = {
    "11010519491231002X": ("李明", "school-430102001", "active"),
    "430102198001010011": ("王芳", "school-430102002", "active"),
}


class _Query(BaseModel):
    national_id: str
    name: str


def fake_registry_app(records: dict[str, tuple[str, str, str]] | None = None) -> FastAPI:
    """``records``: national ID → (name, school code, status); the demo teachers when not given."""
    data = records if records is not None else DEMO_TEACHERS
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
