"""Builders of the events the recommender's domain reads (pure test data)."""

from __future__ import annotations

from datetime import UTC, datetime

from common.contracts.catalog import LessonPlace, MediaRef, PublishedResource, ResourcePublished, ResourceWithdrawn
from common.contracts.exercises import Choice, ExercisePlace, ExercisePublished, ExerciseSnapshot

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
VERSION = "tv.pep.primary.math"


def exercise(eid: str, kps=("分数的加法",), difficulty: int = 3, version: int = 1, **over) -> ExerciseSnapshot:
    base = dict(
        id=eid,
        version=version,
        provider_id="pep",
        item_type="single_choice",
        stem="1/4 + 2/4 = ?",
        choices=[Choice(key="A", text="3/4"), Choice(key="B", text="3/8")],
        answer_key=["A"],
        explanation="同分母分数相加，分母不变，分子相加。",
        knowledge_points=list(kps),
        difficulty=difficulty,
        place=ExercisePlace(
            textbook_version_id=VERSION,
            volume_id=f"{VERSION}/g5b",
            unit_id=f"{VERSION}/g5b/u4",
            lesson_id=f"{VERSION}/g5b/u4/l2",
            stage="primary",
            grade=5,
            subject="math",
        ),
        published_at=T0,
    )
    return ExerciseSnapshot(**{**base, **over})


def published_exercise(eid: str, **kw) -> ExercisePublished:
    return ExercisePublished(exercise=exercise(eid, **kw))


def resource(
    rid: str,
    lesson: str | None = None,
    position: int = 0,
    version: int = 1,
    kps=(),
    grades=(5,),
    subjects=("math",),
    section="course_teaching",
    duration: int | None = 600,
    kind: str = "video_lesson",
    credit_hours: float | None = None,
    published_at: datetime = T0,
) -> ResourcePublished:
    place = None
    if lesson is not None:
        unit = lesson.rsplit("/", 1)[0]
        place = LessonPlace(
            textbook_version_id=VERSION,
            volume_id=unit.rsplit("/", 1)[0],
            unit_id=unit,
            lesson_id=lesson,
            position=position,
        )
    r = PublishedResource(
        id=rid,
        external_id=rid,
        version=version,
        kind=kind,
        title=f"title {rid}",
        section=section,
        knowledge_points=list(kps),
        stages=["primary"],
        grades=list(grades),
        subjects=list(subjects),
        provider_kind="publisher",
        provider_id="pep",
        license="CC-BY-NC-ND-4.0",
        credit_hours=credit_hours,
        lesson=place,
        media=[MediaRef(url=f"https://r.smartedu.cn/{rid}.mp4", duration_seconds=duration)] if duration else [],
        created_at=T0,
        published_at=published_at,
        updated_at=published_at,
    )
    return ResourcePublished(resource=r, cursor=f"{T0.isoformat()}|{rid}")


def withdrawn(rid: str, version: int = 2) -> ResourceWithdrawn:
    return ResourceWithdrawn(resource_id=rid, version=version, reason="版权到期", withdrawn_at=T0, cursor="z")
