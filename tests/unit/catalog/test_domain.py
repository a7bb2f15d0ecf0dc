from datetime import UTC, datetime, timedelta

import pytest

from catalog.domain.reference import SECTIONS
from catalog.domain.resource import (
    EDITOR,
    MINISTRY_ADMIN,
    REVIEWER,
    Actor,
    Resource,
    ResourceContent,
    missing_for_publication,
)
from common.contracts.catalog import ResourcePublished, ResourceReviewTransitioned, ResourceWithdrawn
from common.errors import DomainError

pytestmark = pytest.mark.unit

T0 = datetime(2024, 3, 1, 8, 0, tzinfo=UTC)
EDITOR_HN = Actor("u-editor", frozenset({(EDITOR, "prov-hn")}))
EDITOR_GX = Actor("u-editor-gx", frozenset({(EDITOR, "prov-gx")}))
REVIEWER_HN = Actor("u-reviewer", frozenset({(REVIEWER, "prov-hn")}))
CENTRAL_REVIEWER = Actor("u-central", frozenset({(REVIEWER, None)}))
ADMIN = Actor("u-admin", frozenset({(MINISTRY_ADMIN, None)}))


def content(**over) -> ResourceContent:
    base = dict(
        kind="video_lesson",
        title="湖南地方频道 红色研学 第1期",
        summary="带学生走进韶山，了解红色历史。",
        section="local_channels",
        local_channel="hn",
        license="CC-BY-NC-ND-4.0",
        media=[{"url": "https://r.smartedu.cn/x.mp4", "duration_seconds": 900}],
    )
    return ResourceContent(**{**base, **over})


def new(actor=EDITOR_HN, **over) -> Resource:
    r, events = Resource.create(
        id="r1",
        external_id="e1",
        provider_kind="province",
        provider_id="prov-hn",
        content=content(**over),
        actor=actor,
        now=T0,
    )
    assert events == []
    return r


def test_reference_data_has_twelve_sections_and_36_columns():
    assert len(SECTIONS) == 12
    assert sum(len(s.columns) for s in SECTIONS) == 36
    assert [s.name for s in SECTIONS][:2] == ["德育", "课程教学"]


def test_full_review_cycle_is_audited_and_raises_events():
    r = new()
    assert r.state == "draft" and not r.is_public
    ev = r.submit(EDITOR_HN, T0 + timedelta(minutes=1))
    assert r.state == "in_review" and isinstance(ev[0], ResourceReviewTransitioned)
    ev = r.publish(REVIEWER_HN, T0 + timedelta(minutes=2))
    assert r.state == "published" and r.published is not None and r.published.version == 1
    published = [e for e in ev if isinstance(e, ResourcePublished)]
    assert published[0].resource.title == "湖南地方频道 红色研学 第1期"
    assert published[0].key() == "r1"
    ev = r.withdraw(CENTRAL_REVIEWER, "内容过时", T0 + timedelta(minutes=3))
    assert r.state == "withdrawn" and r.published is None
    withdrawn = next(e for e in ev if isinstance(e, ResourceWithdrawn))
    assert withdrawn.version == 1 and withdrawn.reason == "内容过时"
    assert withdrawn.cursor > published[0].cursor
    assert [(a.action, a.actor_id, a.to_state) for a in r.audit] == [
        ("create", "u-editor", "draft"),
        ("submit", "u-editor", "in_review"),
        ("publish", "u-reviewer", "published"),
        ("withdraw", "u-central", "withdrawn"),
    ]
    assert r.audit[-1].reason == "内容过时"


def test_published_resource_changes_only_through_a_new_reviewed_version():
    r = new()
    r.submit(EDITOR_HN, T0)
    r.publish(REVIEWER_HN, T0)
    r.edit(content(title="湖南地方频道 红色研学 第1期（修订）"), EDITOR_HN, T0 + timedelta(hours=1))
    assert r.state == "draft" and r.version == 2
    assert r.published is not None and r.published.version == 1
    assert r.published.title == "湖南地方频道 红色研学 第1期"  # the public copy did not change
    r.submit(EDITOR_HN, T0 + timedelta(hours=2))
    r.publish(REVIEWER_HN, T0 + timedelta(hours=3))
    assert r.published.version == 2 and r.published.title.endswith("（修订）")


def test_rejection_needs_a_reason_and_returns_to_the_editor():
    r = new()
    r.submit(EDITOR_HN, T0)
    with pytest.raises(DomainError) as exc:
        r.reject(REVIEWER_HN, "  ", T0)
    assert exc.value.status == 422
    r.reject(REVIEWER_HN, "画面不清晰", T0)
    assert r.state == "rejected" and r.rejection_reason == "画面不清晰"
    r.submit(EDITOR_HN, T0)  # resubmitting a rejected resource is allowed
    assert r.state == "in_review"


@pytest.mark.parametrize(
    ("prepare", "action"),
    [
        ([], "publish"),
        ([], "reject"),
        ([], "withdraw"),
        (["submit"], "submit"),
        (["submit"], "edit"),
        (["submit", "publish"], "publish"),
        (["submit", "publish"], "submit"),
    ],
)
def test_illegal_transitions_are_409_naming_the_current_state(prepare, action):
    r = new()
    for step in prepare:
        getattr(r, step)(EDITOR_HN if step == "submit" else REVIEWER_HN, T0)
    state = r.state
    calls = {
        "publish": lambda: r.publish(REVIEWER_HN, T0),
        "reject": lambda: r.reject(REVIEWER_HN, "x", T0),
        "withdraw": lambda: r.withdraw(REVIEWER_HN, "x", T0),
        "submit": lambda: r.submit(EDITOR_HN, T0),
        "edit": lambda: r.edit(content(), EDITOR_HN, T0),
    }
    with pytest.raises(DomainError) as exc:
        calls[action]()
    assert exc.value.status == 409
    assert exc.value.details["current_state"] == state
    assert state in exc.value.message


def test_editors_work_only_within_their_provider_and_only_reviewers_publish():
    with pytest.raises(DomainError) as exc:
        new(actor=EDITOR_GX)
    assert exc.value.status == 403
    r = new()
    with pytest.raises(DomainError):
        r.edit(content(), EDITOR_GX, T0)
    r.submit(EDITOR_HN, T0)
    with pytest.raises(DomainError) as exc:
        r.publish(EDITOR_HN, T0)  # an editor cannot publish even their own resource
    assert exc.value.status == 403
    gx_reviewer = Actor("u-r-gx", frozenset({(REVIEWER, "prov-gx")}))
    with pytest.raises(DomainError):
        r.publish(gx_reviewer, T0)
    r.publish(ADMIN, T0)
    assert r.state == "published"


def test_completeness_check_lists_every_missing_field():
    r = new(title="", summary="", license="", media=[])
    with pytest.raises(DomainError) as exc:
        r.submit(EDITOR_HN, T0)
    assert exc.value.status == 422
    assert {e["field"] for e in exc.value.errors} == {"title", "summary", "license", "media"}


def test_completeness_rules_per_section_and_kind():
    course = ResourceContent(
        kind="courseware",
        title="分数的意义",
        summary="配套课件内容",
        section="course_teaching",
        column="synchronous_class",
        license="x",
        media=[{"url": "https://a/b.pdf"}],
    )
    assert {e["field"] for e in missing_for_publication(course)} == {"lesson", "stages", "subjects", "grades"}
    training = ResourceContent(
        kind="external_link",
        title="师德师风",
        summary="教师研修课程",
        section="teacher_training",
        column="ethics",
        license="x",
        external_url="https://x.cn",
    )
    assert [e["field"] for e in missing_for_publication(training)] == ["credit_hours"]
    etext = ResourceContent(
        kind="e_textbook",
        title="数学 五年级下册",
        summary="电子教材内容",
        section="textbooks",
        column="e_textbooks",
        license="x",
    )
    assert {e["field"] for e in missing_for_publication(etext)} == {"publisher", "media"}
    live = ResourceContent(
        kind="live_session",
        title="直播课",
        summary="名师直播课堂",
        section="after_school",
        column="classic_reading",
        license="x",
    )
    assert {e["field"] for e in missing_for_publication(live)} == {"starts_at", "external_url"}


def test_unknown_reference_codes_are_rejected_even_in_drafts():
    with pytest.raises(DomainError) as exc:
        new(section="after_school", column="nope", stages=["college"], local_channel="xx")
    assert exc.value.status == 422
    assert {e["field"] for e in exc.value.errors} == {"column", "stages", "local_channel"}


def test_training_resource_event_carries_credit_hours():
    r, _ = Resource.create(
        id="t1",
        external_id="t1",
        provider_kind="central_agency",
        provider_id="cea-ncet",
        content=ResourceContent(
            kind="video_lesson",
            title="大单元教学设计",
            summary="学科研修课程",
            section="teacher_training",
            column="subject",
            license="x",
            credit_hours=1.5,
            media=[{"url": "https://v/1.mp4", "duration_seconds": 3600}],
        ),
        actor=ADMIN,
        now=T0,
    )
    r.submit(ADMIN, T0)
    published = next(e for e in r.publish(CENTRAL_REVIEWER, T0) if isinstance(e, ResourcePublished))
    assert published.credit_hours == 1.5 and published.resource.credit_hours == 1.5


def test_import_publishes_directly_for_ministry_admins_only():
    r = new()
    with pytest.raises(DomainError):
        r.import_published(REVIEWER_HN, T0)
    events = r.import_published(ADMIN, T0)
    assert r.state == "published" and isinstance(events[0], ResourcePublished)
    assert r.audit[-1].action == "import"
