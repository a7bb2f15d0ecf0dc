"""Learning events → xAPI 1.0.3 statements (pure: no I/O).

- **Actor**: an ``account`` whose ``homePage`` is the platform's IRI and whose ``name`` is a keyed pseudonym of the
  account id (HMAC-SHA256, 128 bits): stable per learner (research joins a learner's statements), useless without
  the key; never a name, a phone, an email, nor the platform's own id.
- **Verb**: ADL's vocabulary (``http://adlnet.gov/expapi/verbs/...``).
- **Object**: an activity under the platform's IRI (``<iri>/xapi/activities/resources/<id>``...), typed with ADL's
  activity types.
- **Result**: success, completion and ISO 8601 durations (``PT1H30M``).
- **id**: a UUIDv5 of the source event's CloudEvents id, so a statement sent again (a retry, a replay, a crash
  before the commit) has the id the LRS already holds and is not stored twice.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from common.contracts import Event
from common.contracts.classgroups import CheckinSubmitted
from common.contracts.recommender import AnswerGraded
from common.contracts.viewstats import HeartbeatRecorded, LearningCredited

STATEMENT_NAMESPACE = uuid.UUID("5b0c6c52-2f36-5d8e-9f57-3f0e3c1a7d21")
"""The UUIDv5 namespace of statement ids (fixed forever: changing it would re-send every statement as new)."""

ADL_VERB = "http://adlnet.gov/expapi/verbs/"
ADL_ACTIVITY = "http://adlnet.gov/expapi/activities/"
VERBS = {
    "completed": {"en-US": "completed", "zh-CN": "完成"},
    "answered": {"en-US": "answered", "zh-CN": "作答"},
    "experienced": {"en-US": "experienced", "zh-CN": "观看"},
}


@dataclass(frozen=True)
class Mapping:
    """What every statement is built with: the platform's IRI and the pseudonyms' key."""

    platform_iri: str
    pseudonym_key: bytes

    def pseudonym(self, account_id: str) -> str:
        return hmac.new(self.pseudonym_key, account_id.encode(), hashlib.sha256).hexdigest()[:32]

    def actor(self, account_id: str) -> dict[str, Any]:
        return {
            "objectType": "Agent",
            "account": {"homePage": self.platform_iri, "name": self.pseudonym(account_id)},
        }

    def activity(self, path: str, activity_type: str | None = None) -> dict[str, Any]:
        """An activity under the platform's IRI, typed with ADL's activity types where one fits."""
        out: dict[str, Any] = {"objectType": "Activity", "id": f"{self.platform_iri}/xapi/activities/{path}"}
        if activity_type:
            out["definition"] = {"type": ADL_ACTIVITY + activity_type}
        return out


def statement_id(event_id: str, actor: dict[str, Any]) -> str:
    """The same event gives the same id (a retry is idempotent in the LRS). The actor is part of the name: some event
    ids are chosen by clients (a heartbeat's), and two learners' equal ids must not collide into one statement (the
    LRS refuses the second with 409, and it would be lost to the dead-letter topic)."""
    return str(uuid.uuid5(STATEMENT_NAMESPACE, f"{actor['account']['name']}\n{event_id}"))


def iso_duration(seconds: float) -> str:
    """ISO 8601 duration as xAPI wants it: ``PT1H30M``, ``PT45S``, ``PT0S``; whole seconds up to 0.01 s."""
    centis = round(seconds * 100)
    hours, rest = divmod(centis, 360_000)
    minutes, rest = divmod(rest, 6000)
    secs = rest / 100
    out = "PT" + (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "")
    if secs or out == "PT":
        out += f"{secs:g}S"
    return out


def _timestamp(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def _verb(name: str) -> dict[str, Any]:
    return {"id": ADL_VERB + name, "display": VERBS[name]}


def statement(event: Event, event_id: str, mapping: Mapping) -> dict[str, Any] | None:
    """The statement of one event, or None for an event that is not learning activity (a mastery estimate, a
    check-in task created, a review...): those are committed and not sent.

    What is not in xAPI's own properties (subject, knowledge points, a class, lateness) is said with context
    activities under the platform's IRI, not with extensions: an extension's key is an IRI, and a MongoDB-backed
    LRS on FerretDB (Ralph locally) refuses a field name with a dot in it."""
    m = mapping
    if isinstance(event, HeartbeatRecorded):
        body: dict[str, Any] = {
            "actor": m.actor(event.user_id),
            "verb": _verb("experienced"),
            "object": m.activity(f"resources/{event.resource_id}", "media"),
            "result": {"duration": iso_duration(event.seconds)},
            "timestamp": _timestamp(event.at),
        }
    elif isinstance(event, LearningCredited):  # the hours credited are the duration (学时)
        body = {
            "actor": m.actor(event.user_id),
            "verb": _verb("completed"),
            "object": m.activity(f"resources/{event.resource_id}", "course"),
            "result": {"completion": True, "duration": iso_duration(event.hours * 3600)},
            "timestamp": _timestamp(event.credited_at),
        }
    elif isinstance(event, AnswerGraded):
        body = {
            "actor": m.actor(event.student_id),
            "verb": _verb("answered"),
            "object": m.activity(f"exercises/{event.exercise_id}", "cmi.interaction"),
            "result": {"success": event.correct, "completion": True},
            "context": {
                "revision": str(event.exercise_version),
                "contextActivities": {
                    "category": [m.activity(f"subjects/{event.subject_code}")],
                    "other": [m.activity(f"knowledge-points/{kp}", "objective") for kp in event.knowledge_points],
                },
            },
            "timestamp": _timestamp(event.graded_at),
        }
    elif isinstance(event, CheckinSubmitted):
        body = {
            "actor": m.actor(event.student_id),  # the student, also when a guardian submitted for them
            "verb": _verb("completed"),
            "object": m.activity(f"checkin-tasks/{event.task_id}/days/{event.day.isoformat()}", "assessment"),
            "result": {"completion": True},
            "context": {
                "contextActivities": {
                    "grouping": [m.activity(f"classes/{event.class_id}")],
                    "category": [m.activity(f"checkin-timeliness/{event.timeliness}")],
                },
            },
            "timestamp": _timestamp(event.submitted_at),
        }
    else:
        return None
    context = body.setdefault("context", {})
    context["platform"] = "国家中小学智慧教育平台"
    context["language"] = "zh-CN"
    return {"id": statement_id(event_id, body["actor"]), **body}
