"""Events of view statistics (浏览统计) and learning hours (学时).

``ViewRecorded`` is the raw beacon as the collector accepted it (the CloudEvents ``id`` is the client's
UUID, so a beacon retried by the client keeps its id and the aggregator drops the copy). Visitor ids are
opaque: a user id or an anonymous visitor id, never a name or phone number; no IP address leaves the
collector (it is mapped to a province code there).
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Literal

from pydantic import Field

from common.contracts.base import Event
from common.topics import VIEWSTATS_HEARTBEATS, VIEWSTATS_LEARNING, VIEWSTATS_POPULARITY, VIEWSTATS_VIEWS

ClientKind = Literal["web", "android", "ios", "harmony", "mini_program", "tv"]


class ViewRecorded(Event):
    """One page view of a resource (one beacon)."""

    TYPE: ClassVar[str] = "cn.smartedu.viewstats.view.recorded.v1"
    TOPIC: ClassVar[str] = VIEWSTATS_VIEWS

    resource_id: str
    section: str
    visitor_id: str = Field(description="User id, or an anonymous visitor id prefixed `anon:`.")
    province: str | None = Field(None, description="GB/T 2260 province code (2 digits), None when unknown.")
    country: str = Field(description="ISO 3166-1 alpha-2 country or region code; ZZ when unknown.")
    client: ClientKind
    viewed_at: datetime

    def key(self) -> str:
        return self.resource_id


class HeartbeatRecorded(Event):
    """Seconds of watch time of a signed-in user on a resource (video lesson, training course)."""

    TYPE: ClassVar[str] = "cn.smartedu.viewstats.heartbeat.recorded.v1"
    TOPIC: ClassVar[str] = VIEWSTATS_HEARTBEATS

    user_id: str
    resource_id: str
    seconds: int = Field(ge=1, le=300)
    at: datetime

    def key(self) -> str:
        return self.user_id


class ResourcePopularityChanged(Event):
    """Periodic popularity of a resource; the compacted topic keeps the latest per resource."""

    TYPE: ClassVar[str] = "cn.smartedu.viewstats.popularity.changed.v1"
    TOPIC: ClassVar[str] = VIEWSTATS_POPULARITY

    resource_id: str
    views_last_hour: int = Field(ge=0)
    views_last_day: int = Field(ge=0)
    trend: Literal["rising", "steady", "falling"]
    as_of: datetime

    def key(self) -> str:
        return self.resource_id


class LearningCredited(Event):
    """A teacher finished a training course's required watch time: its study hours (学时) count."""

    TYPE: ClassVar[str] = "cn.smartedu.viewstats.learning.credited.v1"
    TOPIC: ClassVar[str] = VIEWSTATS_LEARNING

    credit_id: str = Field(description="Deterministic `<user>:<resource>`: one credit per course per teacher.")
    user_id: str
    resource_id: str
    hours: float = Field(gt=0)
    year: int
    certificate_id: str
    credited_at: datetime

    def key(self) -> str:
        return self.user_id
