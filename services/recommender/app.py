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
from recommender.domain.exercises import ExerciseBank
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
    bank, people, pool = ExerciseBank(), People(), Pool()
    behaviour = Behaviour(finished_share=settings.finished_share)
    coviews = CoViews(behaviour, settings.retrain_seconds)
    learning = LearningService(store, kit.outbox, bank, people, stored_model(), settings.notebook_clear_interval_days)
    service = BehaviourService(store, pool, behaviour, coviews, learning, kit.publisher, settings.served_sample_rate)
    consumers.register(kit, settings.replica_id, bank, people, service)

    @kit.on_startup
    async def load() -> None:
        log.info("recommender: %d finishes loaded from the store", await service.load_finished())
        coviews.start()

    kit.on_shutdown(coviews.stop)
    app = kit.build_app(
        routers=[api.router],
        title="Recommender",
        description="Exercises and grading, the smart mistake notebook (智能错题本), personalised push (推荐).",
    )
    app.state.store, app.state.learning, app.state.behaviour = store, learning, service
    app.state.bank, app.state.pool, app.state.coviews = bank, pool, coviews
    return app
