"""The recommender (推荐, 智能错题本): exercises answered and graded, the mistake notebook, recommendations."""

from __future__ import annotations

import logging

from fastapi import FastAPI

from common.service import ServiceKit
from recommender import api, consumers
from recommender.behaviour import BehaviourService
from recommender.cf import CoViews
from recommender.domain.behaviour import Behaviour
from recommender.domain.bkt import stored_model
from recommender.domain.candidates import Pool
from recommender.domain.classes import Classes
from recommender.domain.exercises import ExerciseBank
from recommender.domain.learners import Learners, Profiles
from recommender.domain.people import People
from recommender.service import LearningService
from recommender.settings import RecommenderSettings
from recommender.store import RecommenderStore

log = logging.getLogger("recommender")


def create_app(settings: RecommenderSettings | None = None) -> FastAPI:
    settings = settings or RecommenderSettings()
    kit = ServiceKit("recommender", settings)
    RecommenderStore.declare(kit.store, kit.outbox)
    store = RecommenderStore(kit.store.db)
    bank, people, classes, pool = ExerciseBank(), People(), Classes(), Pool()
    learners = Learners(stored_model(), settings.notebook_clear_interval_days)
    behaviour = Behaviour(finished_share=settings.finished_share)
    coviews = CoViews(behaviour, settings.retrain_seconds)
    learning = LearningService(store, kit.outbox, bank, learners, classes)
    service = BehaviourService(
        store,
        pool,
        behaviour,
        coviews,
        learning,
        Profiles(),
        people,
        kit.outbox,
        kit.publisher,
        settings.served_sample_rate,
    )
    consumers.register(kit, settings.replica_id, bank, people, classes, service, learning)

    @kit.on_startup
    async def load() -> None:
        # Warm-up, before the consumers start: what the topics may no longer hold (older than their retention).
        # The consumers then replay their topics; readiness waits for the end offsets captured at start.
        finished, answers = await service.load_finished(), await learning.load_answers()
        log.info("recommender: %d finishes and %d answers loaded from the store", finished, answers)
        coviews.start()

    kit.on_shutdown(coviews.stop)
    app = kit.build_app(
        routers=[api.router],
        title="Recommender",
        description="Exercises and grading, the smart mistake notebook (智能错题本), personalised push (推荐).",
    )
    app.state.store, app.state.learning, app.state.behaviour = store, learning, service
    app.state.bank, app.state.pool, app.state.coviews = bank, pool, coviews
    app.state.learners, app.state.classes = learners, classes
    return app
