import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel, Field

from common.problems import PROBLEM_JSON, Problem, install_problem_handlers

pytestmark = pytest.mark.unit


class Lesson(BaseModel):
    title: str = Field(min_length=1)
    hours: float = Field(gt=0)


def client() -> TestClient:
    app = FastAPI()
    install_problem_handlers(app)

    @app.post("/lessons")
    async def create(lesson: Lesson) -> Lesson:
        if lesson.title == "taken":
            raise Problem(409, "Duplicate lesson", "a lesson with this title exists", code="duplicate")
        return lesson

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret internals")

    return TestClient(app, raise_server_exceptions=False)


def test_validation_errors_list_every_field() -> None:
    r = client().post("/lessons", json={"title": "", "hours": -1})
    assert r.status_code == 422
    assert r.headers["content-type"] == PROBLEM_JSON
    body = r.json()
    assert body["status"] == 422
    assert {e["field"] for e in body["errors"]} == {"body.title", "body.hours"}


def test_domain_problem_keeps_its_code() -> None:
    r = client().post("/lessons", json={"title": "taken", "hours": 1})
    assert r.status_code == 409
    assert r.json()["code"] == "duplicate"
    assert r.json()["type"].endswith("/duplicate")


def test_unknown_route_and_crash_are_problems_without_internals() -> None:
    c = client()
    assert c.get("/nowhere").json()["status"] == 404
    r = c.get("/boom")
    assert r.status_code == 500 and r.headers["content-type"] == PROBLEM_JSON
    assert "secret" not in r.text
