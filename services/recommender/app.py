from fastapi import FastAPI

from common.service import ServiceKit
from recommender import api, consumers
from recommender.settings import RecommenderSettings
from recommender.store import CandidateStore


def create_app(settings: RecommenderSettings | None = None) -> FastAPI:
    kit = ServiceKit("recommender", settings or RecommenderSettings())
    candidates = CandidateStore(kit.store.db)
    consumers.register(kit, candidates)
    app = kit.build_app(
        routers=[api.router],
        title="Recommender",
        description="Personalised resource push (推荐) and the smart mistake notebook (智能错题本).",
    )
    app.state.candidates = candidates
    return app
