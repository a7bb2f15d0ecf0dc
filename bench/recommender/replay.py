"""Feeds a synthetic world into the recommender's own domain objects, as its consumers would from the topics."""

from __future__ import annotations

from bench.recommender.synthetic import START, Event, World
from common.contracts.catalog import LessonPlace, MediaRef, PublishedResource, ResourcePublished, ResourceWithdrawn
from recommender.domain.behaviour import Behaviour
from recommender.domain.candidates import Pool
from recommender.domain.notebook import GradedAnswer


def published_events(world: World, prefix: str = "", version: str | None = None) -> list[ResourcePublished]:
    """The catalog's records of the world's resources (ids prefixed, textbook version renamed, when asked)."""
    out = []
    for r in world.resources.values():
        unit = r.lesson_id.rsplit("/", 1)[0]
        tv = version or r.version
        lesson_id, unit = (x.replace(r.version, tv) for x in (r.lesson_id, unit))
        resource = PublishedResource(
            id=prefix + r.id,
            external_id=r.id,
            version=1,
            kind=r.kind,
            title=f"{r.lesson_id} #{r.position}",
            section="course_teaching",
            knowledge_points=[r.kp],
            stages=["primary"],
            grades=[5],
            subjects=["math"],
            provider_kind="publisher",
            provider_id="pep",
            license="CC-BY-NC-ND-4.0",
            lesson=LessonPlace(
                textbook_version_id=tv,
                volume_id=unit.rsplit("/", 1)[0],
                unit_id=unit,
                lesson_id=lesson_id,
                position=r.position,
            ),
            media=[MediaRef(url=f"https://r/{r.id}", duration_seconds=r.duration)] if r.duration else [],
            created_at=START,
            published_at=START,
            updated_at=START,
        )
        out.append(ResourcePublished(resource=resource, cursor=r.id))
    return out


def pool_of(world: World, withdrawn: set[str] = frozenset()) -> Pool:
    pool = Pool()
    for event in published_events(world):
        pool.apply(event)
    for rid in withdrawn:
        pool.apply(ResourceWithdrawn(resource_id=rid, version=2, reason="synthetic", withdrawn_at=START, cursor="z"))
    return pool


def replay(events: list[Event], pool: Pool, behaviour: Behaviour) -> None:
    for e in events:
        if e.kind == "view":
            behaviour.view(e.user, e.item, None, e.at, pool)
        elif e.kind == "finish":
            behaviour.finish(e.user, e.item)


def graded(e: Event, i: int) -> GradedAnswer:
    return GradedAnswer(f"{e.user}:{i}", e.item, 1, "math", (e.kp,), bool(e.correct), e.at)
