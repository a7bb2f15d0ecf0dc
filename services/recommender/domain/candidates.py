"""The candidate pool: the published resources the recommender may push, kept from the catalog's replication feed
(only what ranking needs). A withdrawn resource leaves the pool with its record, so it is never recommended."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel

from common.contracts.catalog import ResourcePublished, ResourceWithdrawn

TEACHER_TRAINING = "teacher_training"
COURSE_TEACHING = "course_teaching"


class Candidate(BaseModel):
    resource_id: str
    version: int
    kind: str
    title: str
    section: str
    stages: list[str]
    grades: list[int]
    subjects: list[str]
    knowledge_points: list[str]
    credit_hours: float | None = None
    duration_seconds: int | None = None
    textbook_version_id: str | None = None
    lesson_id: str | None = None
    position: int = 0
    published_at: datetime | None = None


def candidate_from(event: ResourcePublished) -> Candidate:
    r = event.resource
    durations = [m.duration_seconds for m in r.media if m.duration_seconds]
    return Candidate(
        resource_id=r.id,
        version=r.version,
        kind=r.kind,
        title=r.title,
        section=r.section,
        stages=r.stages,
        grades=r.grades,
        subjects=r.subjects,
        knowledge_points=r.knowledge_points,
        credit_hours=r.credit_hours,
        duration_seconds=max(durations) if durations else None,
        textbook_version_id=r.lesson.textbook_version_id if r.lesson else None,
        lesson_id=r.lesson.lesson_id if r.lesson else None,
        position=r.lesson.position if r.lesson else 0,
        published_at=r.published_at,
    )


_NUMBER = re.compile(r"(\d+)")


def natural_key(node_id: str) -> tuple:
    """Textbook order from node ids: the tree's ids encode their path (``tv.pep.primary.math/g5b/u4/l2``) and the
    numbers in them are the order (u4 before u10). The tree itself is not on any topic; this reads its ids."""
    return tuple(int(p) if p.isdigit() else p for p in _NUMBER.split(node_id))


@dataclass
class Lesson:
    lesson_id: str
    textbook_version_id: str
    resources: list[str]


class Pool:
    """Published resources with the indexes ranking needs (by lesson, by textbook version in order, by
    knowledge point). Applying the same record twice lands in the same state."""

    def __init__(self) -> None:
        self.resources: dict[str, Candidate] = {}
        self.versions: dict[str, int] = {}  # resource id → newest version seen (published or withdrawn)
        self.by_kp: dict[str, set[str]] = {}
        self.by_lesson: dict[str, set[str]] = {}
        self.by_section: dict[str, set[str]] = {}
        self._newest: dict[str, list[str]] = {}  # section → its resources, newest published first (built lazily)
        self._lessons: dict[str, list[Lesson]] | None = None
        self._index: dict[str, int] = {}
        self._grade_start: dict[tuple[str, int], int] = {}

    def apply(self, event: ResourcePublished | ResourceWithdrawn) -> None:
        if isinstance(event, ResourcePublished):
            c = candidate_from(event)
            if c.version < self.versions.get(c.resource_id, 0):
                return
            self._remove(c.resource_id)
            self.resources[c.resource_id] = c
            self.versions[c.resource_id] = c.version
            for kp in c.knowledge_points:
                self.by_kp.setdefault(kp, set()).add(c.resource_id)
            if c.lesson_id:
                self.by_lesson.setdefault(c.lesson_id, set()).add(c.resource_id)
                self._lessons = None
            self.by_section.setdefault(c.section, set()).add(c.resource_id)
            self._newest.pop(c.section, None)
        else:
            if event.version < self.versions.get(event.resource_id, 0):
                return
            self._remove(event.resource_id)
            self.versions[event.resource_id] = event.version

    def _remove(self, rid: str) -> None:
        old = self.resources.pop(rid, None)
        if old is None:
            return
        for kp in old.knowledge_points:
            self.by_kp.get(kp, set()).discard(rid)
        if old.lesson_id:
            self.by_lesson.get(old.lesson_id, set()).discard(rid)
            self._lessons = None
        self.by_section.get(old.section, set()).discard(rid)
        self._newest.pop(old.section, None)

    def get(self, rid: str) -> Candidate | None:
        return self.resources.get(rid)

    def newest(self, section: str) -> list[str]:
        """The section's resources, newest published first (ties by id). Kept until the section changes: a
        teacher's page walks it instead of sorting the whole pool."""
        order = self._newest.get(section)
        if order is None:

            def at(rid: str) -> tuple[bool, float, str]:
                published = self.resources[rid].published_at
                return (published is None, -published.timestamp() if published else 0.0, rid)

            order = self._newest[section] = sorted(self.by_section.get(section, ()), key=at)
        return order

    def lessons(self, version_id: str) -> list[Lesson]:
        """The lessons of a textbook version that have resources, in textbook order; each lesson's resources in
        their order within it."""
        if self._lessons is None:
            grouped: dict[str, list[Lesson]] = {}
            for lesson_id, rids in self.by_lesson.items():
                if not rids:
                    continue
                first = self.resources[next(iter(rids))]
                ordered = sorted(rids, key=lambda r: (self.resources[r].position, r))
                grouped.setdefault(first.textbook_version_id or "", []).append(
                    Lesson(lesson_id, first.textbook_version_id or "", ordered)
                )
            self._index, self._grade_start = {}, {}
            for version, lessons in grouped.items():
                lessons.sort(key=lambda lesson: natural_key(lesson.lesson_id))
                for i, lesson in enumerate(lessons):
                    self._index[lesson.lesson_id] = i
                    grades = self.resources[lesson.resources[0]].grades
                    for g in grades[:1]:
                        self._grade_start.setdefault((version, g), i)
            self._lessons = grouped
        return self._lessons.get(version_id, [])

    def lesson_index(self, lesson_id: str) -> int | None:
        """Place of a lesson in its textbook version's order (built with :meth:`lessons`)."""
        return self._index.get(lesson_id)

    def grade_start(self, version_id: str, grade: int) -> int | None:
        """The first lesson of a grade in a textbook version (cold start)."""
        self.lessons(version_id)
        return self._grade_start.get((version_id, grade))
