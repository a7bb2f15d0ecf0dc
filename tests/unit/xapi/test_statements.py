"""Learning events → xAPI statements (services/xapi/domain/statements.py): pseudonymous actors, ADL verbs, activity
ids under the platform's IRI, ISO 8601 durations, and ids that make a re-sent statement the same statement."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime

import pytest

from common.contracts.classgroups import CheckinReviewed, CheckinSubmitted
from common.contracts.recommender import AnswerGraded, MasteryChanged
from common.contracts.viewstats import HeartbeatRecorded, LearningCredited
from xapi.domain.statements import STATEMENT_NAMESPACE, Mapping, iso_duration, statement, statement_id

pytestmark = pytest.mark.unit

IRI = "https://basic.smartedu.cn"
MAPPING = Mapping(IRI, b"k1")
AT = datetime(2026, 12, 2, 8, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("seconds", "iso"),
    [(0, "PT0S"), (30, "PT30S"), (90, "PT1M30S"), (3600, "PT1H"), (5400, "PT1H30M"), (3725.5, "PT1H2M5.5S")],
)
def test_durations_are_iso_8601(seconds, iso) -> None:
    assert iso_duration(seconds) == iso


def test_the_statement_id_is_a_uuid5_of_the_event_id_so_a_retry_is_the_same_statement() -> None:
    event = HeartbeatRecorded(user_id="u-1", resource_id="r-1", seconds=30, at=AT)
    first, again = statement(event, "evt-1", MAPPING), statement(event, "evt-1", MAPPING)
    assert first == again
    name = MAPPING.actor("u-1")["account"]["name"]
    assert (
        first["id"]
        == statement_id("evt-1", MAPPING.actor("u-1"))
        == str(uuid.uuid5(STATEMENT_NAMESPACE, f"{name}\nevt-1"))
    )
    assert uuid.UUID(first["id"]).version == 5
    assert statement(event, "evt-2", MAPPING)["id"] != first["id"]


def test_two_learners_with_the_same_client_chosen_event_id_get_two_statements() -> None:
    """A heartbeat's event id is the client's: equal ids of two learners must not collide into one statement."""
    one = statement(HeartbeatRecorded(user_id="u-1", resource_id="r-1", seconds=30, at=AT), "1", MAPPING)
    other = statement(HeartbeatRecorded(user_id="u-2", resource_id="r-1", seconds=30, at=AT), "1", MAPPING)
    assert one["id"] != other["id"]


def test_the_actor_is_a_keyed_pseudonym_never_the_account() -> None:
    event = CheckinSubmitted(
        submission_id="s-1",
        task_id="t-1",
        class_id="c-1",
        student_id="u-student-42",
        submitted_by="u-parent-7",
        day=date(2026, 12, 2),
        version=1,
        timeliness="late",
        media=[],
        submitted_at=AT,
    )
    st = statement(event, "evt-1", MAPPING)
    assert st["actor"] == {
        "objectType": "Agent",
        "account": {"homePage": IRI, "name": MAPPING.pseudonym("u-student-42")},
    }
    text = json.dumps(st)
    assert "u-student-42" not in text and "u-parent-7" not in text and "mbox" not in text and 'name": "u-' not in text
    # stable per learner under one key (research joins them), unrelated under another
    assert MAPPING.pseudonym("u-student-42") == Mapping(IRI, b"k1").pseudonym("u-student-42")
    assert MAPPING.pseudonym("u-student-42") != Mapping(IRI, b"k2").pseudonym("u-student-42")
    assert st["context"]["contextActivities"]["category"] == [
        {"objectType": "Activity", "id": f"{IRI}/xapi/activities/checkin-timeliness/late"}
    ]


def test_verbs_objects_and_results() -> None:
    credited = statement(
        LearningCredited(
            credit_id="u-1:r-1",
            user_id="u-1",
            resource_id="r-1",
            hours=2.0,
            year=2026,
            certificate_id="c",
            credited_at=AT,
        ),
        "e1",
        MAPPING,
    )
    assert credited["verb"]["id"] == "http://adlnet.gov/expapi/verbs/completed"
    assert credited["object"]["id"] == f"{IRI}/xapi/activities/resources/r-1"
    assert credited["result"] == {"completion": True, "duration": "PT2H"}
    assert credited["timestamp"] == "2026-12-02T08:30:00Z"
    answered = statement(
        AnswerGraded(
            answer_id="u-2:s:e",
            student_id="u-2",
            exercise_id="ex-9",
            exercise_version=3,
            subject_code="math",
            knowledge_points=["kp-1", "kp-2"],
            correct=True,
            graded_at=AT,
        ),
        "e2",
        MAPPING,
    )
    assert answered["verb"]["id"] == "http://adlnet.gov/expapi/verbs/answered"
    assert answered["result"] == {"success": True, "completion": True}
    assert [a["id"] for a in answered["context"]["contextActivities"]["other"]] == [
        f"{IRI}/xapi/activities/knowledge-points/kp-1",
        f"{IRI}/xapi/activities/knowledge-points/kp-2",
    ]
    assert "u-2:s:e" not in json.dumps(answered)  # the answer id embeds the student's id
    watched = statement(HeartbeatRecorded(user_id="u-3", resource_id="r-3", seconds=45, at=AT), "e3", MAPPING)
    assert watched["verb"]["id"] == "http://adlnet.gov/expapi/verbs/experienced"
    assert watched["result"] == {"duration": "PT45S"}


def test_no_key_of_a_statement_holds_a_dot() -> None:
    """A MongoDB-backed LRS on FerretDB (Ralph, locally) refuses a field name with a dot: no extensions."""

    def keys(value):
        if isinstance(value, dict):
            for k, v in value.items():
                yield k
                yield from keys(v)
        elif isinstance(value, list):
            for v in value:
                yield from keys(v)

    event = AnswerGraded(
        answer_id="a",
        student_id="u",
        exercise_id="e",
        exercise_version=1,
        subject_code="math",
        knowledge_points=["k"],
        correct=False,
        graded_at=AT,
    )
    assert not [k for k in keys(statement(event, "e", MAPPING)) if "." in k]


def test_what_is_not_learning_activity_makes_no_statement() -> None:
    mastery = MasteryChanged(student_id="u", knowledge_point="k", before=0.1, after=0.2, answer_id="a", changed_at=AT)
    review = CheckinReviewed(
        submission_id="s", task_id="t", class_id="c", student_id="u", reviewer_id="t1", action="like", reviewed_at=AT
    )
    assert statement(mastery, "e", MAPPING) is None and statement(review, "e", MAPPING) is None
