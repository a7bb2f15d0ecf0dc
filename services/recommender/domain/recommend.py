"""Ranking: what to push to a student or a teacher, each item with its reason in words. Pure: it reads the pool,
the behaviour, the user's profile and mastery, and an item-item similarity function.

Students, in this order of sources (deduplicated, up to ``limit``):
1. ``next_lesson``: the next lessons of their textbook after the furthest lesson they finished (cold start: the
   first lesson of their grade in the textbook versions they chose);
2. ``weak_point``: resources on the knowledge points whose estimated mastery is below ``WEAK``;
3. ``because_watched``: item-item neighbours (collaborative filtering) of what they viewed last;
4. ``popular``: popular among views in their province (else nationally), in their grade and subjects.
Teachers: ``teaching_material`` (course-teaching resources of their subjects and grades, by popularity) and
``training`` (teacher-training courses with study hours toward the 360 hours, not yet finished, newest first),
then popular.
Never: a finished resource, a resource not in the pool (withdrawn or unknown), a resource twice.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from recommender.domain.behaviour import Behaviour
from recommender.domain.candidates import COURSE_TEACHING, TEACHER_TRAINING, Candidate, Pool
from recommender.domain.profile import Profile

WEAK = 0.6
Similar = Callable[[str, int], list[str]]


@dataclass(frozen=True)
class Item:
    resource_id: str
    title: str
    kind: str
    reason: str
    reason_code: str


class Page:
    def __init__(self, exclude: set[str], pool: Pool, limit: int) -> None:
        self.exclude, self.pool, self.limit = exclude, pool, limit
        self.items: list[Item] = []
        self.seen: set[str] = set()

    @property
    def full(self) -> bool:
        return len(self.items) >= self.limit

    def add(self, rid: str, reason: str, code: str, quota: int | None = None) -> bool:
        c = self.pool.get(rid)
        if self.full or c is None or rid in self.exclude or rid in self.seen:
            return False
        self.items.append(Item(rid, c.title, c.kind, reason, code))
        self.seen.add(rid)
        return True

    def add_all(self, rids: Iterable[str], reason: Callable[[Candidate], str], code: str, quota: int) -> None:
        added = 0
        for rid in rids:
            if added >= quota or self.full:
                return
            c = self.pool.get(rid)
            if c is not None and self.add(rid, reason(c), code):
                added += 1


def popular(
    pool: Pool,
    behaviour: Behaviour,
    province: str | None,
    grades: set[int],
    subjects: set[str],
    limit: int = 50,
    now: float | None = None,
) -> list[str]:
    """Most viewed resources of these grades and subjects (any, when empty) in the province (else nationally).
    ``now`` (monotonic seconds) lets the province's order be reused for ``behaviour.ranking_seconds``."""
    now = time.monotonic() if now is None else now
    where = province if province and province in behaviour.views_by_province else "*"
    out = []
    for rid in behaviour.ranked(where, now):
        c = pool.get(rid)
        if c is None:
            continue
        if grades and not grades & set(c.grades):
            continue
        if subjects and not subjects & set(c.subjects):
            continue
        out.append(rid)
        if len(out) >= limit:
            break
    return out


def next_lessons(pool: Pool, finished: set[str], versions: list[str], grade: int | None, lessons: int = 2) -> list[str]:
    """Resources of the next ``lessons`` lessons after the furthest finished one, per textbook version, in order."""
    out: list[str] = []
    for version in versions:
        ordered = pool.lessons(version)
        done = [
            i
            for rid in finished
            if (c := pool.get(rid)) is not None and c.textbook_version_id == version and c.lesson_id
            if (i := pool.lesson_index(c.lesson_id)) is not None
        ]
        if done:
            # the furthest finished lesson itself may still have unfinished resources: they come first
            start: int | None = max(done)
        else:
            start = pool.grade_start(version, grade) if grade is not None else (0 if ordered else None)
        if start is None:
            continue
        taken = 0
        for lesson in ordered[start:]:
            rest = [r for r in lesson.resources if r not in finished]
            if not rest:
                continue
            out += rest
            taken += 1
            if taken >= lessons:
                break
    return out


def for_student(
    pool: Pool,
    behaviour: Behaviour,
    user: str,
    profile: Profile,
    mastery: dict[str, float],
    similar: Similar,
    limit: int = 10,
    subject_names: dict[str, str] | None = None,
) -> list[Item]:
    finished = behaviour.finished_by(user)
    page = Page(set(finished), pool, limit)
    versions = list(profile.textbook_versions)
    for rid in finished:  # the versions they actually learn from, too
        c = pool.get(rid)
        if c and c.textbook_version_id and c.textbook_version_id not in versions:
            versions.append(c.textbook_version_id)
    page.add_all(
        next_lessons(pool, finished, versions, profile.grade),
        lambda c: f"下一课时 in your textbook: {c.title}",
        "next_lesson",
        quota=max(3, limit // 2),
    )
    for kp, p in sorted(mastery.items(), key=lambda x: x[1]):
        if p >= WEAK or page.full:
            break
        page.add_all(sorted(pool.by_kp.get(kp, ())), lambda c, kp=kp: f"weak point: {kp}", "weak_point", quota=2)
    for rid in behaviour.last_viewed(user)[:3]:
        seen = pool.get(rid)
        if seen is not None:
            page.add_all(
                similar(rid, 5), lambda c, t=seen.title: f"because you watched {t}", "because_watched", quota=2
            )
    grades = {profile.grade} if profile.grade else set()
    subjects = set(profile.subjects)
    where = f"province {profile.province}" if profile.province else "the country"
    page.add_all(
        popular(pool, behaviour, profile.province, grades, subjects),
        lambda c: (
            f"popular in {where}"
            + (f" grade {profile.grade}" if profile.grade else "")
            + (f" {_names(c.subjects, subjects, subject_names)}" if subjects else "")
        ),
        "popular",
        quota=limit,
    )
    if not page.full:  # nothing of their grade is viewed yet: popular anywhere
        page.add_all(
            popular(pool, behaviour, None, set(), set()), lambda c: "popular on the platform", "popular", quota=limit
        )
    return page.items


def for_teacher(
    pool: Pool,
    behaviour: Behaviour,
    user: str,
    profile: Profile,
    limit: int = 10,
    subject_names: dict[str, str] | None = None,
) -> list[Item]:
    finished = behaviour.finished_by(user)
    page = Page(set(finished), pool, limit)
    grades, subjects = set(profile.grades) | ({profile.grade} if profile.grade else set()), set(profile.subjects)
    ranked = popular(pool, behaviour, profile.province, grades, subjects, limit=200)
    materials = [r for r in ranked if pool.resources[r].section == COURSE_TEACHING]
    if len(materials) < limit:  # not enough views yet (cold start): the pool's own resources of those grades
        materials += _matching(pool, grades, subjects, COURSE_TEACHING, limit * 2)
    page.add_all(
        materials,
        lambda c: (
            f"teaching material for grade {_join(c.grades, grades)} {_names(c.subjects, subjects, subject_names)}"
        ),
        "teaching_material",
        quota=limit // 2,
    )
    # Training: the courses they have not done (Page drops finished ones), newest first, general courses and those
    # of their own subjects (a course for another subject's teachers is not theirs). Popularity does not order
    # them: what others watched says little about what counts toward this teacher's 360 hours.
    training = _matching(pool, set(), subjects, TEACHER_TRAINING, limit + len(finished), credited=True, general=True)
    page.add_all(
        training, lambda c: f"teacher training: {c.credit_hours:g} 学时 toward your 360 hours", "training", quota=limit
    )
    page.add_all(
        popular(pool, behaviour, None, set(), set()), lambda c: "popular on the platform", "popular", quota=limit
    )
    return page.items


def _matching(
    pool: Pool,
    grades: set[int],
    subjects: set[str],
    section: str,
    limit: int,
    credited: bool = False,
    general: bool = False,
) -> list[str]:
    """The section's resources of these grades and subjects, newest first; ``general``: one with no grades or
    no subjects matches on that side too (a training course for every teacher)."""
    out = []
    for rid in pool.newest(section):
        c = pool.resources[rid]
        if credited and not c.credit_hours:
            continue
        if grades and not grades & set(c.grades) and not (general and not c.grades):
            continue
        if subjects and not subjects & set(c.subjects) and not (general and not c.subjects):
            continue
        out.append(rid)
        if len(out) >= limit:
            break
    return out


def similar_resources(pool: Pool, rid: str, similar: Similar, limit: int = 10) -> list[Item]:
    """Same lesson first, then shared knowledge points, then co-viewed (item-item CF)."""
    c = pool.get(rid)
    if c is None:
        return []
    page = Page({rid}, pool, limit)
    if c.lesson_id:
        page.add_all(
            sorted(pool.by_lesson.get(c.lesson_id, ()), key=lambda r: pool.resources[r].position),
            lambda o: "same lesson",
            "same_lesson",
            quota=limit,
        )
    for kp in c.knowledge_points:
        page.add_all(
            sorted(pool.by_kp.get(kp, ())),
            lambda o, kp=kp: f"same knowledge point: {kp}",
            "same_knowledge_point",
            quota=3,
        )
    page.add_all(similar(rid, limit), lambda o: "viewed by the same people", "co_viewed", quota=limit)
    return page.items


def _join(values: list[int], wanted: set[int]) -> str:
    shown = [v for v in values if not wanted or v in wanted]
    return "/".join(str(v) for v in shown or values)


def _names(codes: list[str], wanted: set[str], names: dict[str, str] | None) -> str:
    shown = [c for c in codes if not wanted or c in wanted] or codes
    return "/".join((names or {}).get(c, c) for c in shown)
