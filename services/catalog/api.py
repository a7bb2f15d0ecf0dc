"""HTTP API of the catalog: public browsing (tree, lists with facets, detail, search, change feed) and the
editors'/reviewers' workflow. Access goes through ``common.auth`` dependencies only."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, Field

from catalog.domain.reference import GRADE_NAMES, PROVINCE_NAMES, SECTIONS, STAGES, SUBJECTS
from catalog.domain.resource import (
    EDITOR,
    MINISTRY_ADMIN,
    PROVIDER_SCOPE,
    REVIEWER,
    Actor,
    Resource,
    ResourceContent,
)
from catalog.paging import (
    CHANGE_CURSOR_PATTERN,
    MAX_CHANGE_CURSOR_CHARS,
    MAX_CURSOR_CHARS,
    decode_change_cursor,
    decode_cursor,
)
from catalog.search import MAX_OFFSET
from catalog.service import Catalog
from common import access
from common.auth import Principal, require_role
from common.contracts.catalog import ProviderKind

router = APIRouter(prefix="/v1", tags=["catalog"])


def svc(request: Request) -> Catalog:
    return request.app.state.catalog


def actor_of(p: Principal) -> Actor:
    """Roles as identity issues them (``catalog_editor@provider/<provider id>``) → (role, provider id)."""
    return Actor(p.subject, frozenset((r.name, _provider_of(r.org)) for r in p.roles))


def _provider_of(org: str | None) -> str | None:
    return org.removeprefix(PROVIDER_SCOPE) if org and org.startswith(PROVIDER_SCOPE) else org


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json", headers=headers)


# --- reference data and the tree -------------------------------------------------------------------------
@router.get("/sections", summary="The 12 sections (板块) and their columns (栏目)")
@access.public()
async def sections() -> list[dict[str, Any]]:
    return [
        {"code": s.code, "name": s.name, "columns": [{"code": c.code, "name": c.name} for c in s.columns]}
        for s in SECTIONS
    ]


@router.get("/reference", summary="Stages, grades, subjects, provinces (GB/T 2260 code → name)")
@access.public()
async def reference() -> dict[str, Any]:
    return {"stages": STAGES, "grades": GRADE_NAMES, "subjects": SUBJECTS, "provinces": PROVINCE_NAMES}


@router.get(
    "/tree/versions", summary="Textbook versions (教材版本) of a stage/subject, optionally with a volume of a grade"
)
@access.public()
async def versions(
    request: Request,
    stage: str | None = None,
    subject: str | None = None,
    grade: int | None = Query(None, ge=1, le=12),
) -> list[dict[str, Any]]:
    return svc(request).browse.versions(stage, subject, grade)


@router.get(
    "/tree/nodes/{node_id:path}", summary="A tree node with its children; a lesson lists its resources in order"
)
@access.public()
async def node(request: Request, node_id: str, grade: int | None = Query(None, ge=1, le=12)) -> dict[str, Any]:
    return svc(request).browse.node(node_id, grade)


# --- public reads ----------------------------------------------------------------------------------------
Filters = dict[str, str | None]


async def resource_filters(
    section: str | None = None,
    stage: str | None = None,
    grade: int | None = Query(None, ge=1, le=12),
    subject: str | None = None,
    kind: str | None = None,
    provider: str | None = None,
) -> Filters:
    """The textbook-tree filters of the public reads. A coroutine, not a class: FastAPI builds a class dependency
    (a plain callable) in a worker thread, a thread hop on every list and search request."""
    return {
        "section": section,
        "stage": stage,
        "grade": None if grade is None else str(grade),
        "subject": subject,
        "kind": kind,
        "provider": provider,
    }


@router.get("/resources", summary="Published resources, filtered, with facet counts and cursor pagination")
@access.public()
async def list_resources(
    request: Request,
    filters: Annotated[Filters, Depends(resource_filters)],
    order: Literal["new", "hot"] = "new",
    limit: int = Query(20, ge=1, le=100),
    cursor: str | None = Query(None, max_length=MAX_CURSOR_CHARS, description="`next_cursor` of the previous page"),
    facets: bool = True,
) -> Response:
    return _json(svc(request).browse.resources(filters, order, limit, decode_cursor(cursor), facets))


@router.get("/resources/{rid}", summary="A published resource (ETag, Cache-Control; If-None-Match → 304)")
@access.public()
async def get_resource(request: Request, rid: str) -> Response:
    e = svc(request).browse.published(rid)
    etag = f'"{rid}-v{e.public_version}-{e.cursor[:17]}"'
    headers = {"ETag": etag, "Cache-Control": f"public, max-age={request.app.state.settings.detail_max_age_seconds}"}
    inm = request.headers.get("if-none-match")
    if inm and etag in [t.strip() for t in inm.split(",")]:
        return Response(status_code=304, headers=headers)
    return Response(e.public, media_type="application/json", headers=headers)


@router.get("/search", summary="Full-text search (Chinese without spaces) over published resources")
@access.public()
async def search(
    request: Request,
    filters: Annotated[Filters, Depends(resource_filters)],
    q: str = Query(min_length=1, max_length=100),
    limit: int = Query(20, ge=1, le=100),
    offset: int = Query(0, ge=0, le=MAX_OFFSET),
    facets: bool = False,
) -> Response:
    return _json(svc(request).browse.search(q, filters, limit, offset, facets))


@router.get("/changes", summary="Change feed for systems without Kafka: current state of every changed resource")
@access.public()
async def changes(
    request: Request,
    after: str = Query(
        "",
        max_length=MAX_CHANGE_CURSOR_CHARS,
        pattern=CHANGE_CURSOR_PATTERN,
        description="`next` of the previous page (opaque); empty: from the first change",
    ),
    limit: int = Query(500, ge=1, le=5000),
) -> Response:
    """Returns each resource changed after ``after`` with its current public snapshot (``published``) or as
    ``withdrawn``; poll again with ``next`` (also when a page is empty: it may have moved). Like the compacted
    topic, a resource appears once, at its latest change. Follows the topic's offsets, so ``next`` never moves
    past a change not yet served, whichever replica answers (see ``catalog.feed``)."""
    return _json(svc(request).browse.changes(decode_change_cursor(after), limit))


# --- editors and reviewers -------------------------------------------------------------------------------
class CreateResource(BaseModel):
    external_id: str = Field(min_length=1, max_length=200)
    provider_kind: ProviderKind
    provider_id: str = Field(min_length=1, max_length=200)
    content: ResourceContent


class Reason(BaseModel):
    reason: str = Field(min_length=1, max_length=1000)


EditorOrReviewer = Depends(require_role(EDITOR, REVIEWER, MINISTRY_ADMIN, any_scope=True))


def _working(resource: Resource, rev: int) -> dict[str, Any]:
    return {**resource.model_dump(mode="json"), "rev": rev}


@router.post("/resources", status_code=201, summary="Create a draft (editors of the provider)")
@access.role(EDITOR, MINISTRY_ADMIN, target="body.provider_id")
async def create_resource(request: Request, body: CreateResource, who: Principal = EditorOrReviewer) -> dict[str, Any]:
    editorial = svc(request).editorial
    r = await editorial.create(actor_of(who), body.external_id, body.provider_kind, body.provider_id, body.content)
    return _working(r, 1)


@router.get("/resources/{rid}/working", summary="The working copy with review state and audit trail")
@access.role(EDITOR, REVIEWER, MINISTRY_ADMIN, target="resource.provider")
async def working(request: Request, rid: str, who: Principal = EditorOrReviewer) -> dict[str, Any]:
    return _working(*await svc(request).editorial.working(actor_of(who), rid))


@router.put("/resources/{rid}", summary="Edit the working copy (a published resource starts a new version)")
@access.role(EDITOR, MINISTRY_ADMIN, target="resource.provider")
async def edit(
    request: Request, rid: str, content: ResourceContent, who: Principal = EditorOrReviewer
) -> dict[str, Any]:
    return _working(*await svc(request).editorial.edit(actor_of(who), rid, content))


@router.post("/resources/{rid}/submit", summary="Submit for review")
@access.role(EDITOR, MINISTRY_ADMIN, target="resource.provider")
async def submit(request: Request, rid: str, who: Principal = EditorOrReviewer) -> dict[str, Any]:
    return _working(*await svc(request).editorial.submit(actor_of(who), rid))


@router.post("/resources/{rid}/publish", summary="Publish (reviewers)")
@access.role(REVIEWER, MINISTRY_ADMIN, target="resource.provider")
async def publish(request: Request, rid: str, who: Principal = EditorOrReviewer) -> dict[str, Any]:
    return _working(*await svc(request).editorial.publish(actor_of(who), rid))


@router.post("/resources/{rid}/reject", summary="Reject with a reason (reviewers)")
@access.role(REVIEWER, MINISTRY_ADMIN, target="resource.provider")
async def reject(request: Request, rid: str, body: Reason, who: Principal = EditorOrReviewer) -> dict[str, Any]:
    return _working(*await svc(request).editorial.reject(actor_of(who), rid, body.reason))


@router.post("/resources/{rid}/withdraw", summary="Withdraw from the public catalog with a reason (reviewers)")
@access.role(REVIEWER, MINISTRY_ADMIN, target="resource.provider")
async def withdraw(request: Request, rid: str, body: Reason, who: Principal = EditorOrReviewer) -> dict[str, Any]:
    return _working(*await svc(request).editorial.withdraw(actor_of(who), rid, body.reason))


@router.post(
    "/import",
    summary="Bulk import JSONL (application/x-ndjson), idempotent by external id (ministry admins)",
    openapi_extra={
        "requestBody": {"required": True, "content": {"application/x-ndjson": {"schema": {"type": "string"}}}}
    },
)
@access.role(MINISTRY_ADMIN)
async def bulk_import(request: Request, who: Principal = Depends(require_role(MINISTRY_ADMIN))) -> Response:
    # Read here, after the caller is known to be a ministry admin: a body parameter would be read (up to
    # CATALOG_IMPORT_MAX_BODY_BYTES) before the authorization dependency ran, for anyone.
    body = await request.body()
    report = await svc(request).imports.import_jsonl(
        body.splitlines(), actor_of(who), chunk=request.app.state.settings.import_chunk
    )
    return _json(report)
