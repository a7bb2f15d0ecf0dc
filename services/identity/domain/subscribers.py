"""Subscriber systems (订阅系统) and what each may see: pure rules, no I/O.

A ministry admin registers a subscriber (a province's platform, a research system, another ministry system): the
event types it gets, the provinces whose data it gets, whether our identifiers are pseudonymised for it, and top-level
fields left out. The feed router (``identity.feeds``) applies :meth:`Subscriber.admits` and :meth:`Subscriber.shape`
to every platform event and writes what passes to the subscriber's own topic (``common.topics.feed_topic``).

What is offered at all is :data:`OFFERED`: the public catalog, class groups' events and learning events. Nothing
else leaves (no account lifecycle, no notification, no raw view beacon, no answer key), so no raw personal data can:
the offered events carry ids only (see their contracts), and pseudonymisation replaces every account id they carry,
wherever it appears (composite ids like ``<user>:<resource>`` included), with a keyed HMAC under the subscriber's own
key: stable for that subscriber, unlinkable across subscribers.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from common.contracts import catalog, classgroups, recommender, viewstats
from common.errors import Invalid
from common.reference import PROVINCES
from common.topics import feed_topic

Category = Literal["catalog", "classgroups", "learning"]
Kind = Literal["province", "research", "system"]

OFFERED: dict[str, Category] = {
    catalog.ResourcePublished.TYPE: "catalog",
    catalog.ResourceWithdrawn.TYPE: "catalog",
    **{
        t.TYPE: "classgroups"
        for t in (
            classgroups.ClassCreated,
            classgroups.TeachersAssigned,
            classgroups.OwnershipTransferred,
            classgroups.MemberJoined,
            classgroups.MemberLeft,
            classgroups.LeaveRequested,
            classgroups.LeaveDecided,
            classgroups.EvaluationRecorded,
            classgroups.CheckinTaskCreated,
            classgroups.CheckinSubmitted,
            classgroups.CheckinReviewed,
            classgroups.LabourStarsAwarded,
            classgroups.CoursePublished,
            classgroups.CourseSelected,
            classgroups.CourseDropped,
        )
    },
    viewstats.LearningCredited.TYPE: "learning",
    recommender.AnswerGraded.TYPE: "learning",
    recommender.MasteryChanged.TYPE: "learning",
}
"""Every event type a subscriber may be given, and how its province is found (see :func:`province_keys`)."""

SOURCE_TOPICS: tuple[str, ...] = tuple(
    sorted(
        {
            t.TOPIC
            for t in (
                catalog.ResourcePublished,
                classgroups.ClassCreated,
                classgroups.CheckinSubmitted,
                classgroups.CoursePublished,
                viewstats.LearningCredited,
                recommender.AnswerGraded,
            )
        }
    )
)
"""The platform topics the feed router reads (the offered types live on these)."""

ACCOUNT_ID = re.compile(r"u_[0-9a-f]{32}")
"""Identity's account ids (``u_<32 hex>``, identity.domain.accounts): what pseudonymisation replaces."""
NAME_PATTERN = re.compile(r"^[\w\u4e00-\u9fff .()（）·-]{1,100}$")


def pseudonym(key: bytes, account_id: str) -> str:
    """The subscriber's stable pseudonym of one account: ``p_`` + 128 bits of HMAC-SHA256."""
    return "p_" + hmac.new(key, account_id.encode(), hashlib.sha256).hexdigest()[:32]


def feed_event_id(key: bytes, source_event_id: str) -> str:
    """The ``ce_id`` a subscriber sees for one source event: the same on every delivery of that event to that
    subscriber (redelivery, replay), different for every subscriber (ids do not link feeds). UUID-shaped."""
    return str(uuid.UUID(bytes=hmac.new(key, b"ce:" + source_event_id.encode(), hashlib.sha256).digest()[:16]))


@dataclass(frozen=True)
class Subscriber:
    id: str  # also its Kafka user name and its HTTP login
    name: str
    kind: Kind
    event_types: tuple[str, ...]
    provinces: tuple[str, ...]  # GB/T 2260 codes; empty: every province (a national system)
    pseudonymise: bool
    exclude_fields: tuple[str, ...] = ()
    active: bool = True
    registered_at: datetime | None = None
    key: bytes = field(default=b"", repr=False)  # the per-subscriber HMAC key (ids, pseudonyms); never shown

    def terms(self) -> dict[str, Any]:
        """What the registration says (stored, shown to the admin): never the key."""
        return {
            "name": self.name,
            "kind": self.kind,
            "event_types": list(self.event_types),
            "provinces": list(self.provinces),
            "pseudonymise": self.pseudonymise,
            "exclude_fields": list(self.exclude_fields),
            "active": self.active,
            "registered_at": self.registered_at,
        }

    @property
    def topic(self) -> str:
        return feed_topic(self.id)

    def admits(self, event_type: str, province: str | None, *, local_channel: bool = False) -> bool:
        """Whether an event of ``event_type`` about ``province`` belongs in this feed. Catalog resources are
        national unless they sit in a province's local channel (``local_channel``); every other offered event is
        about one province, and an event whose province is unknown goes only to national subscribers."""
        if not self.active or event_type not in self.event_types:
            return False
        if not self.provinces:
            return True
        if OFFERED[event_type] == "catalog" and not local_channel:
            return True
        return province in self.provinces

    def shape(self, value: Any) -> Any:
        """The event's JSON as this subscriber gets it: excluded fields out, account ids pseudonymised."""
        if isinstance(value, Mapping) and self.exclude_fields:
            value = {k: v for k, v in value.items() if k not in self.exclude_fields}
        return self._ids(value)

    def shape_text(self, text: str | None) -> str | None:
        """A key or subject: account ids inside pseudonymised."""
        return self._ids(text) if text is not None else None

    def _ids(self, value: Any) -> Any:
        if not self.pseudonymise:
            return value
        if isinstance(value, str):
            return ACCOUNT_ID.sub(lambda m: pseudonym(self.key, m.group(0)), value)
        if isinstance(value, Mapping):
            return {k: self._ids(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._ids(v) for v in value]
        return value


def check_registration(
    name: str, kind: str, event_types: list[str], provinces: list[str], exclude_fields: list[str]
) -> None:
    """Refuse a registration that asks for what is not offered (field by field)."""
    if not NAME_PATTERN.match(name):
        raise Invalid("letters, digits, spaces and .()·- only, at most 100", code="name", field="body.name")
    unknown = [t for t in event_types if t not in OFFERED]
    if unknown or not event_types:
        raise Invalid(
            f"not offered to subscribers: {', '.join(unknown) or '(none asked)'}; offered: {', '.join(OFFERED)}",
            code="event_type",
            field="body.event_types",
        )
    bad = [p for p in provinces if p not in PROVINCES]
    if bad:
        raise Invalid(f"not a GB/T 2260 province code: {', '.join(bad)}", code="province", field="body.provinces")
    if kind == "province" and len(provinces) != 1:
        raise Invalid("a province's platform names exactly its own province", code="province", field="body.provinces")
    if any(not f.isidentifier() for f in exclude_fields):
        raise Invalid("top-level field names of the events", code="field", field="body.exclude_fields")


# --- replays ------------------------------------------------------------------------------------------------
ReplayState = Literal["pending", "running", "done", "failed"]


@dataclass(frozen=True)
class ReplayWindow:
    event_types: tuple[str, ...]
    province: str | None
    since: datetime
    until: datetime
    max_records: int


def check_replay(
    subscriber: Subscriber,
    event_types: list[str],
    province: str | None,
    since: datetime,
    until: datetime,
    max_records: int,
    *,
    now: datetime,
    max_window_hours: float,
    max_records_limit: int,
) -> ReplayWindow:
    """A replay window within what the subscriber may see and the platform's bounds."""
    types = tuple(event_types) or subscriber.event_types
    outside = [t for t in types if t not in subscriber.event_types]
    if outside:
        raise Invalid(f"not in this subscription: {', '.join(outside)}", code="event_type", field="body.event_types")
    if province is not None and province not in PROVINCES:
        raise Invalid("not a GB/T 2260 province code", code="province", field="body.province")
    if province is not None and subscriber.provinces and province not in subscriber.provinces:
        raise Invalid("not a province of this subscription", code="province", field="body.province")
    if since.tzinfo is None or until.tzinfo is None:
        raise Invalid("RFC 3339 with an offset", code="time", field="body.since")
    if not since < until:
        raise Invalid("since must be before until", code="window", field="body.until")
    if until > now:
        raise Invalid("until may not be in the future", code="window", field="body.until")
    if (until - since).total_seconds() > max_window_hours * 3600:
        raise Invalid(f"a window is at most {max_window_hours:g} hours", code="window", field="body.since")
    if not 1 <= max_records <= max_records_limit:
        raise Invalid(f"between 1 and {max_records_limit}", code="max_records", field="body.max_records")
    return ReplayWindow(types, province, since, until, max_records)
