import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel, Field

from common.errors import Conflict, Invalid, Limited, NotFound
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

    @app.post("/leave-requests")
    async def request_leave(days: int) -> None:
        if days > 30:
            raise Invalid("a leave request covers at most 30 days", code="leave-too-long", field="body.days")
        if days == 0:
            raise NotFound("no such class", code="class-not-found")
        if days == 1:
            raise Conflict("the request is already decided", code="leave-decided", state="approved")
        raise Limited("too many requests", code="rate-limited", retry_after=7)

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


@pytest.mark.parametrize(
    ("days", "status", "code"),
    [(31, 422, "leave-too-long"), (0, 404, "class-not-found"), (1, 409, "leave-decided"), (2, 429, "rate-limited")],
)
def test_domain_errors_become_problems_with_their_status_and_code(days: int, status: int, code: str) -> None:
    r = client().post("/leave-requests", params={"days": days})
    assert r.status_code == status
    assert r.headers["content-type"] == PROBLEM_JSON
    body = r.json()
    assert body["code"] == code and body["status"] == status and body["detail"]
    if status == 422:
        assert body["errors"] == [{"field": "body.days", "message": body["detail"], "code": code}]
    if status == 409:
        assert body["state"] == "approved"
    if status == 429:
        assert r.headers["retry-after"] == "7"
