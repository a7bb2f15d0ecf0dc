"""Property over evaluation runs (the synthetic student model of bench/recommender): whatever the world, the split
time and the resources withdrawn, no student is ever recommended a resource they finished or a withdrawn one, and
no similar-resources list holds a withdrawn one."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.recommender.replay import graded, pool_of, replay
from bench.recommender.synthetic import Params, generate
from recommender.cf import train
from recommender.domain.behaviour import Behaviour
from recommender.domain.bkt import stored_model
from recommender.domain.notebook import Learning
from recommender.domain.profile import Profile
from recommender.domain.recommend import for_student, similar_resources

pytestmark = pytest.mark.unit


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    split=st.floats(0.1, 1.0),
    withdrawn_share=st.floats(0, 0.5),
    limit=st.integers(1, 30),
)
def test_no_recommendation_is_finished_or_withdrawn(seed: int, split: float, withdrawn_share: float, limit: int):
    p = Params(students=25, lessons=12, units=3, days=25)
    world = generate(p, seed=seed)
    ids = sorted(world.resources)
    withdrawn = set(ids[: int(len(ids) * withdrawn_share)][::-1][:: max(1, seed % 3 + 1)])
    events = [e for e in world.events if e.day < p.days * split]
    pool = pool_of(world, withdrawn)
    behaviour = Behaviour()
    replay(events, pool, behaviour)
    cf = train(list(behaviour.pairs))
    learners: dict[str, Learning] = {}
    for i, e in enumerate(events):
        if e.kind == "answer":
            learners.setdefault(e.user, Learning(stored_model())).apply(graded(e, i))
    for user, version in world.student_version.items():
        finished = behaviour.finished_by(user)
        mastery = learners[user].mastery if user in learners else {}
        items = for_student(
            pool, behaviour, user, Profile(grade=5, textbook_versions=[version]), mastery, cf.similar, limit
        )
        ids_out = [i.resource_id for i in items]
        assert not set(ids_out) & finished, user
        assert not set(ids_out) & withdrawn, user
        assert len(ids_out) == len(set(ids_out)) <= limit
    for rid in ids[:: max(1, len(ids) // 10)]:
        assert not {i.resource_id for i in similar_resources(pool, rid, cf.similar)} & withdrawn
