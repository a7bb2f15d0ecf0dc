"""A resource (资源) and its editorial review.

Review is a state machine over the *working copy* of a resource::

    draft ──submit──▶ in_review ──publish──▶ published ──withdraw──▶ withdrawn
      ▲                  │
      └──(edit)── rejected ◀──reject──┘

A published (or withdrawn) resource changes only through a new version: editing it starts version N+1 as a
draft while the public snapshot of version N stays visible until N+1 is published (or the resource is
withdrawn). Editors work only within their provider; only reviewers (or ministry admins) publish, reject and
withdraw. Every transition is appended to the audit trail (who, when, why) and raises events that the store
keeps inside the document until they are on Kafka.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from catalog.domain.reference import (
    GRADES,
    LOCAL_CHANNELS,
    PROVINCES,
    SECTIONS_BY_CODE,
    STAGES,
    SUBJECTS,
    province_code,
)
from common.contracts.base import Event
from common.contracts.catalog import (
    LessonPlace,
    MediaRef,
    ProviderKind,
    PublishedResource,
    ResourceKind,
    ResourcePublished,
    ResourceReviewTransitioned,
    ResourceWithdrawn,
)
from common.errors import Conflict, Forbidden, Invalid

State = Literal["draft", "in_review", "published", "rejected", "withdrawn"]

# Identity's role names: editors and reviewers are scoped to a provider's node (``provider/<id>``)
EDITOR, REVIEWER, MINISTRY_ADMIN = "catalog_editor", "catalog_reviewer", "ministry_admin"
PROVIDER_SCOPE = "provider/"


@dataclass(frozen=True)
class Actor:
    """Who acts: a subject id and roles as ``(name, scope)``; the scope is the provider id (an org path) the
    role is held for, ``None`` for ministry-wide (e.g. a central reviewer of every provider)."""

    subject: str
    roles: frozenset[tuple[str, str | None]]

    def _holds(self, role: str, provider_id: str) -> bool:
        return any(
            name == role and (scope is None or provider_id == scope or provider_id.startswith(scope + "/"))
            for name, scope in self.roles
        )

    @property
    def is_ministry_admin(self) -> bool:
        return (MINISTRY_ADMIN, None) in self.roles

    def may_edit(self, provider_id: str) -> bool:
        return self.is_ministry_admin or self._holds(EDITOR, provider_id)

    def may_review(self, provider_id: str) -> bool:
        return self.is_ministry_admin or self._holds(REVIEWER, provider_id)


class ResourceContent(BaseModel):
    """The editable part of a resource. Drafts may be incomplete; :func:`missing_for_publication` says what
    a reviewer would miss."""

    model_config = ConfigDict(extra="forbid")

    kind: ResourceKind
    title: str = Field("", max_length=200)
    summary: str = Field("", max_length=4000)
    section: str
    column: str | None = None
    local_channel: str | None = None
    tags: list[str] = Field(default_factory=list, max_length=30)
    knowledge_points: list[str] = Field(default_factory=list, max_length=50)
    stages: list[str] = Field(default_factory=list)
    grades: list[int] = Field(default_factory=list)
    subjects: list[str] = Field(default_factory=list)
    license: str = ""
    credit_hours: float | None = Field(None, ge=0, le=200)
    publisher: str | None = None
    lesson: LessonPlace | None = None
    media: list[MediaRef] = Field(default_factory=list, max_length=20)
    external_url: str | None = Field(None, max_length=2000)
    starts_at: datetime | None = None

    @field_validator("title", "summary")
    @classmethod
    def _strip(cls, v: str) -> str:
        return v.strip()

    @field_validator("local_channel", mode="before")
    @classmethod
    def _province_code(cls, v: object) -> object:
        # Clients and import files may still send the former letters (hn): stored and published as the
        # GB/T 2260 code (43). An unknown value stays as sent, for reference_errors to name.
        return province_code(v) or v

    def reference_errors(self) -> list[dict[str, str]]:
        """Codes that do not exist in the reference data (rejected even in a draft)."""
        errors: list[dict[str, str]] = []
        section = SECTIONS_BY_CODE.get(self.section)
        if section is None:
            errors.append({"field": "section", "message": f"unknown section {self.section!r}"})
        elif self.column is not None and section.column(self.column) is None:
            errors.append({"field": "column", "message": f"section {self.section!r} has no column {self.column!r}"})
        if self.local_channel is not None and self.local_channel not in PROVINCES:
            errors.append(
                {"field": "local_channel", "message": f"unknown province {self.local_channel!r} (GB/T 2260 code: 43)"}
            )
        errors += [{"field": "stages", "message": f"unknown stage {s!r}"} for s in self.stages if s not in STAGES]
        errors += [
            {"field": "subjects", "message": f"unknown subject {s!r}"} for s in self.subjects if s not in SUBJECTS
        ]
        errors += [{"field": "grades", "message": f"unknown grade {g}"} for g in self.grades if g not in GRADES]
        if self.external_url is not None and not self.external_url.startswith(("https://", "http://")):
            errors.append({"field": "external_url", "message": "must be an http(s) URL"})
        return errors


def missing_for_publication(c: ResourceContent) -> list[dict[str, str]]:
    """What a resource still lacks before it can be published, as field errors (empty: complete)."""
    missing: list[dict[str, str]] = []

    def need(ok: object, field: str, message: str) -> None:
        if not ok:
            missing.append({"field": field, "message": message})

    need(len(c.title) >= 2, "title", "a title is required")
    need(len(c.summary) >= 5, "summary", "a summary of at least 5 characters is required")
    need(c.license, "license", "a license is required")
    section = SECTIONS_BY_CODE.get(c.section)
    if section is not None and section.columns:
        need(c.column, "column", f"a column of section {c.section!r} is required")
    if c.section == LOCAL_CHANNELS:
        need(c.local_channel, "local_channel", "a local-channel resource names its province")
    if c.section == "course_teaching":
        need(c.lesson, "lesson", "a course-teaching resource sits in a lesson of the textbook tree")
        need(c.stages, "stages", "at least one stage is required")
        need(c.subjects, "subjects", "at least one subject is required")
        need(c.grades, "grades", "at least one grade is required")
    if c.section == "teacher_training":
        need(
            c.credit_hours is not None and c.credit_hours > 0,
            "credit_hours",
            "a teacher-training resource grants study hours (学时)",
        )
    if c.kind == "video_lesson":
        need(c.media and c.media[0].duration_seconds, "media", "a video lesson needs a video with its duration")
    elif c.kind in ("courseware", "exercise_set", "document"):
        need(c.media, "media", f"a {c.kind} needs at least one media reference")
    elif c.kind == "e_textbook":
        need(c.publisher, "publisher", "an e-textbook names its publisher")
        need(c.media, "media", "an e-textbook needs its file reference")
    elif c.kind == "external_link":
        need(c.external_url, "external_url", "an external link needs its URL")
    elif c.kind == "live_session":
        need(c.starts_at, "starts_at", "a live session needs a start time")
        need(c.external_url or c.media, "external_url", "a live session needs a stream URL")
    return missing


class AuditEntry(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    at: datetime
    actor_id: str
    action: str
    from_state: State | None
    to_state: State
    version: int
    reason: str | None = None


def change_cursor(at: datetime, resource_id: str) -> str:
    """Cursors order changes by time, ties broken by resource id; string comparison is time order."""
    return f"{int(at.timestamp() * 1_000_000):017d}-{resource_id}"


def resource_id(provider_id: str, external_id: str) -> str:
    """Deterministic: the same external id of the same provider is always the same resource."""
    return "r" + hashlib.blake2b(f"{provider_id}\x00{external_id}".encode(), digest_size=10).hexdigest()


def conflict(state: str, action: str) -> Conflict:
    return Conflict(f"cannot {action} a resource in state {state!r}", code="illegal-transition", current_state=state)


def forbidden(detail: str) -> Forbidden:
    return Forbidden(detail, code="forbidden")


class Resource(BaseModel):
    """The resource aggregate: working copy, review state, public snapshot, audit trail, pending events."""

    model_config = ConfigDict(extra="forbid")

    id: str
    external_id: str
    provider_kind: ProviderKind
    provider_id: str
    state: State = "draft"
    version: int = 1
    content: ResourceContent
    published: PublishedResource | None = None
    rejection_reason: str | None = None
    created_at: datetime
    updated_at: datetime
    audit: list[AuditEntry] = Field(default_factory=list)

    # --- queries ---------------------------------------------------------------------------------------
    @property
    def is_public(self) -> bool:
        return self.published is not None

    # --- commands --------------------------------------------------------------------------------------
    @classmethod
    def create(
        cls,
        *,
        id: str,
        external_id: str,
        provider_kind: ProviderKind,
        provider_id: str,
        content: ResourceContent,
        actor: Actor,
        now: datetime,
    ) -> tuple[Resource, list[Event]]:
        if not actor.may_edit(provider_id):
            raise forbidden(f"only editors of provider {provider_id!r} create its resources")
        _check_reference(content)
        r = cls(
            id=id,
            external_id=external_id,
            provider_kind=provider_kind,
            provider_id=provider_id,
            content=content,
            created_at=now,
            updated_at=now,
        )
        r._audit(actor, "create", None, "draft", now)
        return r, []

    def edit(self, content: ResourceContent, actor: Actor, now: datetime) -> list[Event]:
        if not actor.may_edit(self.provider_id):
            raise forbidden(f"only editors of provider {self.provider_id!r} edit its resources")
        if self.state == "in_review":
            raise conflict(self.state, "edit")
        _check_reference(content)
        before = self.state
        if self.state in ("published", "withdrawn"):
            self.version += 1  # the public snapshot stays until this version passes review
        self.content = content
        self.state = "draft"
        self.rejection_reason = None
        self.updated_at = now
        self._audit(actor, "edit", before, "draft", now)
        return []

    def submit(self, actor: Actor, now: datetime) -> list[Event]:
        if not actor.may_edit(self.provider_id):
            raise forbidden(f"only editors of provider {self.provider_id!r} submit its resources")
        if self.state not in ("draft", "rejected"):
            raise conflict(self.state, "submit")
        _check_complete(self.content)
        return self._transition(actor, "submit", "in_review", now)

    def publish(self, actor: Actor, now: datetime) -> list[Event]:
        if not actor.may_review(self.provider_id):
            raise forbidden("only reviewers publish")
        if self.state != "in_review":
            raise conflict(self.state, "publish")
        _check_complete(self.content)
        events = self._transition(actor, "publish", "published", now)
        self.published = self.snapshot(now)
        cursor = change_cursor(now, self.id)
        return [
            *events,
            ResourcePublished(resource=self.published, cursor=cursor, credit_hours=self.published.credit_hours),
        ]

    def reject(self, actor: Actor, reason: str, now: datetime) -> list[Event]:
        if not actor.may_review(self.provider_id):
            raise forbidden("only reviewers reject")
        if self.state != "in_review":
            raise conflict(self.state, "reject")
        _check_reason(reason)
        self.rejection_reason = reason
        return self._transition(actor, "reject", "rejected", now, reason)

    def withdraw(self, actor: Actor, reason: str, now: datetime) -> list[Event]:
        if not actor.may_review(self.provider_id):
            raise forbidden("only reviewers withdraw")
        if self.published is None:
            raise conflict(self.state, "withdraw")
        _check_reason(reason)
        events = self._transition(actor, "withdraw", "withdrawn", now, reason)
        public_version = self.published.version
        self.published = None
        return [
            *events,
            ResourceWithdrawn(
                resource_id=self.id,
                version=public_version,
                reason=reason,
                withdrawn_at=now,
                cursor=change_cursor(now, self.id),
            ),
        ]

    def import_published(self, actor: Actor, now: datetime) -> list[Event]:
        """Bulk import of already-reviewed content (a migration by a ministry admin): the import itself is
        the review decision, audited as such."""
        if not actor.is_ministry_admin:
            raise forbidden("only ministry admins import published resources")
        _check_complete(self.content)
        before = self.state
        if self.published is not None:
            self.version += 1
        self.state = "published"
        self.updated_at = now
        self._audit(
            actor,
            "import",
            before if before != "published" else None,
            "published",
            now,
            "bulk import of reviewed content",
        )
        self.published = self.snapshot(now)
        return [
            ResourcePublished(
                resource=self.published, cursor=change_cursor(now, self.id), credit_hours=self.published.credit_hours
            )
        ]

    def announce_again(self, now: datetime) -> list[Event]:
        """The public snapshot published once more, unchanged but with a new cursor, so that every subscriber
        replaces the record it holds (used when the wire form of a snapshot changed: ``catalog.migration``).
        Nothing to announce for a draft or a withdrawn resource."""
        if not self.is_public or self.published is None:
            return []
        return [
            ResourcePublished(
                resource=self.published, cursor=change_cursor(now, self.id), credit_hours=self.published.credit_hours
            )
        ]

    # --- internals -------------------------------------------------------------------------------------
    def snapshot(self, now: datetime) -> PublishedResource:
        c = self.content
        return PublishedResource(
            id=self.id,
            external_id=self.external_id,
            version=self.version,
            kind=c.kind,
            title=c.title,
            summary=c.summary,
            section=c.section,
            column=c.column,
            local_channel=c.local_channel,
            tags=c.tags,
            knowledge_points=c.knowledge_points,
            stages=c.stages,
            grades=c.grades,
            subjects=c.subjects,
            provider_kind=self.provider_kind,
            provider_id=self.provider_id,
            license=c.license,
            credit_hours=c.credit_hours,
            publisher=c.publisher,
            lesson=c.lesson,
            media=c.media,
            external_url=c.external_url,
            starts_at=c.starts_at,
            created_at=self.created_at,
            published_at=now,
            updated_at=now,
        )

    def _transition(
        self, actor: Actor, action: str, to: State, now: datetime, reason: str | None = None
    ) -> list[Event]:
        before = self.state
        self.state = to
        self.updated_at = now
        self._audit(actor, action, before, to, now, reason)
        return [
            ResourceReviewTransitioned(
                resource_id=self.id,
                version=self.version,
                from_state=before,
                to_state=to,
                actor_id=actor.subject,
                provider_id=self.provider_id,
                reason=reason,
                at=now,
            )
        ]

    def _audit(
        self, actor: Actor, action: str, before: State | None, to: State, now: datetime, reason: str | None = None
    ) -> None:
        self.audit.append(
            AuditEntry(
                at=now,
                actor_id=actor.subject,
                action=action,
                from_state=before,
                to_state=to,
                version=self.version,
                reason=reason,
            )
        )


def _check_reference(content: ResourceContent) -> None:
    errors = content.reference_errors()
    if errors:
        raise Invalid(f"{len(errors)} field(s) are invalid", code="validation-failed", errors=errors)


def _check_complete(content: ResourceContent) -> None:
    missing = missing_for_publication(content)
    if missing:
        raise Invalid(f"{len(missing)} field(s) are missing for publication", code="incomplete", errors=missing)


def _check_reason(reason: str) -> None:
    if not reason or not reason.strip():
        raise Invalid(
            "a reason is required",
            code="validation-failed",
            errors=[{"field": "reason", "message": "a reason is required"}],
        )
