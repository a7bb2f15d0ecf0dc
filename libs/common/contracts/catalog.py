"""Events of the catalog (目录): what the public catalog contains, and how resources move through review.

Replication policy of ``catalog.resources.v1`` (log-compacted, keyed by resource id):

- every publish, every new published version and every withdrawal writes ONE record for the resource;
  ``ResourcePublished`` carries the full public snapshot, ``ResourceWithdrawn`` says the resource left the
  public catalog;
- we never write null tombstones: after compaction the last record per key is the resource's current
  public state, so a subscriber that reads the topic from the start and, per key, keeps the snapshot of a
  ``published`` record and drops the resource on a ``withdrawn`` record rebuilds the public catalog exactly,
  however long it was offline (a null tombstone would vanish after ``delete.retention.ms`` and a mirror that
  was offline longer would keep a withdrawn resource forever);
- records of one resource are ordered (same key, same partition) and carry ``version`` and ``cursor``; a
  subscriber ignores a record whose ``(version, cursor)`` is not newer than what it holds (redeliveries).

``catalog.editorial.v1`` carries review transitions (ids and codes only) for dashboards and audits.

Versions of ``ResourcePublished`` (one topic, one key per resource, so a subscriber reads both):

- ``...resource.published.v2`` (class ``ResourcePublished``, published since the GB/T 2260 change): the snapshot's
  ``local_channel`` is the province's GB/T 2260 code (``"43"``), the key of provinces everywhere on the platform
  (identity's org paths ``cn/43/...``, viewstats' province figures, :mod:`common.reference`). Nothing else changed.
- ``...resource.published.v1`` (class ``ResourcePublishedV1``, no longer published): ``local_channel`` was the
  province's ISO 3166-2:CN letters (``"hn"``). The catalog's start-up migration publishes every public
  local-channel resource again as v2; v1 records of other resources (no local channel: the same in both versions)
  stay until their resource is published again. Decoding a v1 record with these models gives the code (``"43"``),
  so a subscriber handles both as ``ResourcePublished``. A subscriber decoding the JSON itself maps the letters with
  :func:`common.reference.province_code`. Dual publishing was not an option: on a compacted topic only the last
  record per key survives, so a v1 copy would hide the v2 record (or the reverse) from a subscriber that replays.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from common.contracts.base import Event
from common.reference import province_code
from common.topics import CATALOG_EDITORIAL, CATALOG_RESOURCES

ResourceKind = Literal[
    "video_lesson", "courseware", "exercise_set", "document", "e_textbook", "external_link", "live_session"
]
ProviderKind = Literal["central_agency", "province", "university", "publisher"]


class MediaRef(BaseModel):
    """A reference to media stored elsewhere (CDN/object store): never the bytes."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str
    mime_type: str | None = None
    size_bytes: int | None = Field(None, ge=0)
    duration_seconds: int | None = Field(None, ge=0)


class LessonPlace(BaseModel):
    """Where a course-teaching resource sits in the textbook tree (课程教学 → 教材版本 → 册 → 单元 → 课时)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    textbook_version_id: str
    volume_id: str
    unit_id: str
    lesson_id: str
    position: int = Field(ge=0, description="Order of the resource within its lesson.")


class PublishedResource(BaseModel):
    """The public snapshot of a resource: exactly what anonymous users see."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    external_id: str
    version: int = Field(ge=1)
    kind: ResourceKind
    title: str
    summary: str = ""
    section: str = Field(description="Section code (板块), e.g. course_teaching.")
    column: str | None = Field(None, description="Column code (栏目) within the section.")
    local_channel: str | None = Field(
        None,
        pattern=r"^[0-9]{2}$",
        description="GB/T 2260 code of the province whose local channel (地方频道) holds the resource, if any "
        "(v1 records carried ISO 3166-2:CN letters such as hn: read as the code).",
    )
    tags: list[str] = []
    knowledge_points: list[str] = []
    stages: list[str] = []
    grades: list[int] = []
    subjects: list[str] = []
    provider_kind: ProviderKind
    provider_id: str
    license: str
    credit_hours: float | None = Field(None, ge=0, description="Teacher-training study hours (学时) it grants.")
    publisher: str | None = Field(None, description="Publisher of an e-textbook (出版社).")
    lesson: LessonPlace | None = None
    media: list[MediaRef] = []
    external_url: str | None = None
    starts_at: datetime | None = Field(None, description="Start of a live session.")
    created_at: datetime
    published_at: datetime
    updated_at: datetime

    @field_validator("local_channel", mode="before")
    @classmethod
    def _province_code(cls, value: object) -> object:
        # A v1 record's letters (hn) read as the code (43); anything else fails the pattern or is not a province.
        if value is None:
            return None
        code = province_code(value)
        if code is None:
            raise ValueError("not a GB/T 2260 province code")
        return code


class ResourcePublished(Event):
    """A resource (or a new version of it) entered the public catalog; carries the whole snapshot."""

    TYPE: ClassVar[str] = "cn.smartedu.catalog.resource.published.v2"
    TOPIC: ClassVar[str] = CATALOG_RESOURCES

    resource: PublishedResource
    cursor: str = Field(
        description="Order of this change among the resource's changes (time, then resource id; string order "
        "= change order): ignore a record not newer than the one held."
    )
    credit_hours: float | None = Field(None, description="Copy of resource.credit_hours for training courses.")

    def key(self) -> str:
        return self.resource.id


class ResourcePublishedV1(ResourcePublished):
    """The first version of ResourcePublished, no longer published: its ``local_channel`` was ISO 3166-2:CN
    letters (``hn``). Read only, as a ``ResourcePublished`` whose snapshot carries the code (see the module)."""

    TYPE: ClassVar[str] = "cn.smartedu.catalog.resource.published.v1"
    SUPERSEDED_BY: ClassVar[str | None] = ResourcePublished.TYPE


class ResourceWithdrawn(Event):
    """A resource left the public catalog; subscribers delete their copy."""

    TYPE: ClassVar[str] = "cn.smartedu.catalog.resource.withdrawn.v1"
    TOPIC: ClassVar[str] = CATALOG_RESOURCES

    resource_id: str
    version: int
    reason: str
    withdrawn_at: datetime
    cursor: str

    def key(self) -> str:
        return self.resource_id


class ResourceReviewTransitioned(Event):
    """A resource moved between review states (draft, in_review, published, rejected, withdrawn)."""

    TYPE: ClassVar[str] = "cn.smartedu.catalog.resource.review_transitioned.v1"
    TOPIC: ClassVar[str] = CATALOG_EDITORIAL

    resource_id: str
    version: int
    from_state: str
    to_state: str
    actor_id: str = Field(description="Subject id of the editor/reviewer (an id, never a name).")
    provider_id: str
    reason: str | None = None
    at: datetime

    def key(self) -> str:
        return self.resource_id
