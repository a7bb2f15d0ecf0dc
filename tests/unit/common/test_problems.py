import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel, Field

from common.errors import Conflict, Invalid, Limited, NotFound, invalid_input
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

    @app.post("/timetables")
    async def timetable(starts: int, ends: int, phone: str = "13800000000") -> None:
        with invalid_input("query.phone", code="phone"):
            if not phone.isdigit():
                raise ValueError("not a mainland China mobile number")
        if ends < starts:
            errors = [
                {"field": "query.starts", "message": "after the end"},
                {"field": "query.ends", "message": "before the start"},
            ]
            raise Invalid("2 field(s) are invalid", code="validation-failed", errors=errors)

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


def test_a_domain_error_lists_every_field_its_rule_checked() -> None:
    r = client().post("/timetables", params={"starts": 9, "ends": 8})
    assert r.status_code == 422 and r.json()["code"] == "validation-failed"
    assert [e["field"] for e in r.json()["errors"]] == ["query.starts", "query.ends"]


def test_a_parsers_value_error_becomes_invalid_naming_the_field_it_read() -> None:
    r = client().post("/timetables", params={"starts": 8, "ends": 9, "phone": "x"})
    assert r.status_code == 422 and r.headers["content-type"] == PROBLEM_JSON
    message = "not a mainland China mobile number"
    assert r.json()["errors"] == [{"field": "query.phone", "message": message, "code": "phone"}]
    assert client().post("/timetables", params={"starts": 8, "ends": 9}).status_code == 200
