"""A synthetic behaviour log from a documented student model, for the recommender's offline evaluation
(``evaluate.py``), the BKT fit (``fit_bkt.py``) and the property test (tests/unit/recommender).

The catalog: ``versions`` textbook versions of grade-5 math, each ``lessons`` lessons in ``units`` units; each lesson
has ``per_lesson`` resources (a video, courseware, a study sheet) and one knowledge point (KP) of its own, with
``exercises_per_kp`` exercises of difficulty 1..5. Plus a handful of teacher-training courses.

The student model, day by day over ``days`` days:
- each student learns from one textbook version, starting at lesson 0, and is active on a day with probability
  ``p_active`` (a personal rate drawn from Beta(4, 2));
- on an active day they study the next lesson in textbook order: with probability ``p_skip`` they skip it (and go
  to the one after); otherwise they open its resources in order and finish each with probability ``p_finish``
  (else they only view it);
- with probability ``p_popular`` per active day they also open a popular resource: resources have a Zipf(1.1)
  appeal, drawn among all lessons (the popularity effect);
- after a lesson they answer ``answers_per_lesson`` exercises of its KP, and with probability ``p_review`` one exercise
  of an earlier lesson's KP (review);
- answers come from a knowledge-tracing ground truth per (student, KP): a hidden known/unknown state, known at
  first with ``p_init``, learnt with ``p_learn_watch`` when the lesson is watched and ``p_learn_practice`` after each
  practice, forgotten with ``p_forget`` per day; a known KP is answered right with 1 - slip (``slip``), an unknown one
  with ``guess`` shifted by difficulty (harder items are guessed less).

Every event carries its day (a float, for ordering); ``known`` records the true state at each answer (for the AUC of
mastery estimates). Deterministic for a seed.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

START = datetime(2026, 3, 2, tzinfo=UTC)


@dataclass(frozen=True)
class Params:
    students: int = 400
    versions: int = 2
    lessons: int = 48
    units: int = 8
    per_lesson: int = 3
    exercises_per_kp: int = 6
    trainings: int = 12
    days: int = 60
    p_skip: float = 0.08
    p_finish: float = 0.85
    p_popular: float = 0.25
    answers_per_lesson: int = 2
    p_review: float = 0.3
    p_init: float = 0.25
    p_learn_watch: float = 0.35
    p_learn_practice: float = 0.2
    p_forget: float = 0.01
    slip: float = 0.1
    guess: float = 0.25


@dataclass(frozen=True)
class Resource:
    id: str
    version: str
    lesson_id: str
    lesson_index: int
    position: int
    kind: str
    kp: str
    duration: int | None


@dataclass(frozen=True)
class Exercise:
    id: str
    kp: str
    difficulty: int
    lesson_id: str


@dataclass(frozen=True)
class Event:
    day: float
    user: str
    kind: str  # view | finish | answer
    item: str  # resource id or exercise id
    correct: bool | None = None
    kp: str | None = None
    known: bool | None = None

    @property
    def at(self) -> datetime:
        return START + timedelta(days=self.day)


@dataclass
class World:
    params: Params
    resources: dict[str, Resource] = field(default_factory=dict)
    exercises: dict[str, Exercise] = field(default_factory=dict)
    trainings: list[str] = field(default_factory=list)
    student_version: dict[str, str] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)


def version_id(v: int) -> str:
    return f"tv.syn{v}.primary.math"


def lesson_id(v: int, i: int, p: Params) -> str:
    per_unit = p.lessons // p.units
    return f"{version_id(v)}/g5b/u{i // per_unit + 1}/l{i % per_unit + 1}"


def _truth(known: dict[str, bool], last_day: dict[str, float], kp: str, day: float, rng: random.Random, p: Params):
    """The hidden state of a KP now: drawn at first sight, forgotten with p_forget per day since last seen."""
    if kp not in known:
        known[kp] = rng.random() < p.p_init
    elif known[kp] and rng.random() < 1 - (1 - p.p_forget) ** (day - last_day.get(kp, day)):
        known[kp] = False
    last_day[kp] = day
    return known[kp]


def generate(p: Params = Params(), seed: int = 7) -> World:
    rng = random.Random(seed)
    w = World(p)
    kinds = ["video_lesson", "courseware", "document"]
    for v in range(p.versions):
        for i in range(p.lessons):
            lid = lesson_id(v, i, p)
            kp = f"kp.v{v}.l{i}"
            for k in range(p.per_lesson):
                rid = f"r.v{v}.l{i}.{k}"
                kind = kinds[k % len(kinds)]
                w.resources[rid] = Resource(
                    rid, version_id(v), lid, i, k, kind, kp, 600 if kind == "video_lesson" else None
                )
            for e in range(p.exercises_per_kp):
                eid = f"e.v{v}.l{i}.{e}"
                w.exercises[eid] = Exercise(eid, kp, 1 + e % 5, lid)
    w.trainings = [f"t.{k}" for k in range(p.trainings)]
    ids = sorted(w.resources)
    appeal = {rid: 1 / (rank + 1) ** 1.1 for rank, rid in enumerate(rng.sample(ids, len(ids)))}
    appeal_ids, appeal_w = list(appeal), list(appeal.values())
    by_kp: dict[str, list[Exercise]] = {}
    for ex in w.exercises.values():
        by_kp.setdefault(ex.kp, []).append(ex)
    for s in range(p.students):
        user = f"s{s:04d}"
        v = rng.randrange(p.versions)
        w.student_version[user] = version_id(v)
        rate = rng.betavariate(4, 2)
        known: dict[str, bool] = {}
        last_day: dict[str, float] = {}
        lesson = 0
        done_kps: list[str] = []

        for day in range(p.days):
            if rng.random() >= rate or lesson >= p.lessons:
                continue
            t = day + rng.random() * 0.5
            if rng.random() < p.p_skip:
                lesson += 1
                continue
            lid = lesson_id(v, lesson, p)
            kp = f"kp.v{v}.l{lesson}"
            for k in range(p.per_lesson):
                rid = f"r.v{v}.l{lesson}.{k}"
                t += 0.001
                w.events.append(Event(t, user, "view", rid))
                if rng.random() < p.p_finish:
                    w.events.append(Event(t + 0.0005, user, "finish", rid))
            _truth(known, last_day, kp, t, rng, p)
            if not known[kp] and rng.random() < p.p_learn_watch:
                known[kp] = True
            practice = rng.sample(by_kp[kp], p.answers_per_lesson)
            if done_kps and rng.random() < p.p_review:
                practice.append(rng.choice(by_kp[rng.choice(done_kps)]))
            for ex in practice:
                t += 0.001
                state = _truth(known, last_day, ex.kp, t, rng, p)
                guess = p.guess * (1.2 - 0.1 * ex.difficulty)
                right = rng.random() < (1 - p.slip if state else guess)
                w.events.append(Event(t, user, "answer", ex.id, right, ex.kp, state))
                if not known[ex.kp] and rng.random() < p.p_learn_practice:
                    known[ex.kp] = True
            done_kps.append(kp)
            if rng.random() < p.p_popular:
                t += 0.001
                rid = rng.choices(appeal_ids, appeal_w)[0]
                w.events.append(Event(t, user, "view", rid))
                if rng.random() < 0.5:
                    w.events.append(Event(t + 0.0005, user, "finish", rid))
            lesson += 1
    w.events.sort(key=lambda e: (e.day, e.user, e.item))
    assert not math.isnan(sum(e.day for e in w.events))
    return w
