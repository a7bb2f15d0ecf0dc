"""The compatibility gate (issue 17): every released event version's schema is in contracts/schemas, and a change
that breaks a vN is refused unless it comes as vN+1, published beside vN for the deprecation period."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Literal

import pytest
from pydantic import BaseModel, Field

from common import compatibility
from common.compatibility import DEPRECATION_DAYS, Released, breaking_changes, gate
from common.contracts import EVENT_TYPES

pytestmark = pytest.mark.unit

DAY = date(2026, 12, 2)


class Grade(StrEnum):
    g1 = "g1"
    g2 = "g2"


class Place(BaseModel):
    stage: str
    grade: Grade


class LessonWatched(BaseModel):  # a released v1, as its publisher declared it
    lesson_id: str
    seconds: int = Field(ge=0)
    place: Place
    device: Literal["web", "app"]
    at: datetime
    note: str | None = None


def schema(model: type[BaseModel]) -> dict:
    return model.model_json_schema()


def test_the_repository_keeps_a_schema_of_every_declared_event_and_nothing_breaks() -> None:
    released = compatibility.load_released()
    assert set(EVENT_TYPES) <= set(released)
    assert gate(released, compatibility.current_schemas(), date.today()) == []


def test_the_checked_in_files_are_self_contained_json_schemas() -> None:
    path = compatibility.SCHEMAS_DIR / "cn.smartedu.catalog.resource.published.v2.json"
    data = json.loads(path.read_text())
    assert data["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert data["$id"].endswith("/cn.smartedu.catalog.resource.published.v2.json")
    refs = {part.split('"')[0] for part in json.dumps(data).split('"$ref": "')[1:]}
    assert refs and all(ref.removeprefix("#/$defs/") in data["$defs"] for ref in refs)


def test_an_unchanged_model_and_a_new_optional_property_pass() -> None:
    class WithOptional(LessonWatched):
        school_id: str | None = None

    assert breaking_changes(schema(LessonWatched), schema(LessonWatched)) == []
    assert breaking_changes(schema(LessonWatched), schema(WithOptional)) == []


def test_a_description_is_not_a_break() -> None:
    class Documented(BaseModel):
        lesson_id: str = Field(description="the lesson")
        seconds: int = Field(ge=0, description="watched")
        place: Place
        device: Literal["web", "app"]
        at: datetime
        note: str | None = Field(None, description="free text")

    Documented.__name__ = "LessonWatched"
    assert breaking_changes(schema(LessonWatched), schema(Documented)) == []


def _variant(**fields) -> dict:
    """LessonWatched's schema with some properties replaced, added (a schema) or removed (None)."""
    out = json.loads(json.dumps(schema(LessonWatched)))
    for name, value in fields.items():
        if value is None:
            del out["properties"][name]
            out["required"] = [r for r in out["required"] if r != name]
        else:
            required, value = value
            out["properties"][name] = value
            if required and name not in out["required"]:
                out["required"].append(name)
            if not required:
                out["required"] = [r for r in out["required"] if r != name]
    return out


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"seconds": None}, "seconds: removed"),
        ({"seconds": (True, {"type": "string"})}, "seconds: type changed from 'integer' to 'string'"),
        ({"seconds": (True, {"type": "integer", "minimum": 1})}, "seconds: minimum changed"),
        ({"at": (True, {"type": "string"})}, "at: format changed"),
        ({"school_id": (True, {"type": "string"})}, "school_id: new required property"),
        ({"note": (True, {"type": "string"})}, "note: now required"),
        ({"lesson_id": (False, {"type": "string"})}, "lesson_id: no longer required"),
        ({"note": (False, {"type": "string"})}, "note: anyOf changed"),
        ({"device": (True, {"enum": ["web"], "type": "string"})}, "device: enum narrowed"),
    ],
)
def test_a_change_that_breaks_the_released_version_is_refused(change, reason) -> None:
    problems = breaking_changes(schema(LessonWatched), _variant(**change))
    assert any(p.startswith(reason) for p in problems), problems


def test_a_narrowed_or_widened_enum_in_a_nested_model_is_refused() -> None:
    old = schema(LessonWatched)
    narrowed = json.loads(json.dumps(old))
    narrowed["$defs"]["Grade"]["enum"] = ["g1"]
    widened = json.loads(json.dumps(old))
    widened["$defs"]["Grade"]["enum"] = ["g1", "g2", "g3"]
    assert breaking_changes(old, narrowed) == ["place.grade: enum narrowed (no longer ['g2'])"]
    assert breaking_changes(old, widened) == ["place.grade: enum widened (['g3'] would be rejected by old readers)"]


def test_a_nested_property_removed_is_refused() -> None:
    class SlimPlace(BaseModel):
        grade: Grade

    class Slim(LessonWatched):
        place: SlimPlace  # type: ignore[assignment]

    # the nested model's name is not the contract (a renamed model of the same shape passes), its properties are
    assert breaking_changes(schema(LessonWatched), schema(Slim)) == ["place.stage: removed"]


T1, T2 = "cn.smartedu.viewstats.lesson.watched.v1", "cn.smartedu.viewstats.lesson.watched.v2"


def test_the_gate_refuses_a_breaking_change_to_a_released_vn_and_takes_it_as_vn_plus_1() -> None:
    class LessonWatchedV2(BaseModel):  # seconds became a duration string: breaking
        lesson_id: str
        duration: str
        place: Place
        device: Literal["web", "app"]
        at: datetime

    released = {T1: Released(schema(LessonWatched), DAY)}
    assert sorted(gate(released, {T1: schema(LessonWatchedV2)}, DAY)) == [
        f"{T1}: duration: new required property",
        f"{T1}: note: removed",
        f"{T1}: seconds: removed",
    ]
    # As v2 beside v1 it passes once v2 is released (`make contracts`), and not before.
    current = {T1: schema(LessonWatched), T2: schema(LessonWatchedV2)}
    assert gate(released, current, DAY) == [
        f"{T2}: declared but not released: run `make contracts` and commit its schema"
    ]
    released[T2] = Released(schema(LessonWatchedV2), DAY)
    assert gate(released, current, DAY) == []


def test_vn_stays_declared_for_the_deprecation_period_after_vn_plus_1() -> None:
    released = {T1: Released(schema(LessonWatched), DAY), T2: Released(schema(LessonWatched), DAY)}
    only_v2 = {T2: schema(LessonWatched)}
    ends = DAY + timedelta(days=DEPRECATION_DAYS)
    assert gate(released, only_v2, ends - timedelta(days=1)) == [
        f"{T1}: still in its deprecation period (until {ends}): keep its model"
    ]
    assert gate(released, only_v2, ends) == []


def test_a_released_type_without_a_successor_cannot_go() -> None:
    released = {T1: Released(schema(LessonWatched), DAY)}
    assert gate(released, {}, DAY + timedelta(days=10 * DEPRECATION_DAYS)) == [
        f"{T1}: released, no longer declared, and no v2"
    ]


def test_resource_published_v1_is_in_its_deprecation_period_beside_v2() -> None:
    released = compatibility.load_released()
    ends = compatibility.deprecation_ends("cn.smartedu.catalog.resource.published.v1", released)
    assert ends == released["cn.smartedu.catalog.resource.published.v2"].released + timedelta(days=DEPRECATION_DAYS)
    current = compatibility.current_schemas()
    del current["cn.smartedu.catalog.resource.published.v1"]
    assert gate(released, current, ends - timedelta(days=1)) != []


def test_write_refuses_to_overwrite_a_released_schema_with_a_breaking_change(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(compatibility, "current_schemas", lambda: {T1: schema(LessonWatched)})
    assert compatibility.write(tmp_path, DAY) == []
    first = (tmp_path / f"{T1}.json").read_text()
    monkeypatch.setattr(compatibility, "current_schemas", lambda: {T1: _variant(seconds=None)})
    assert compatibility.write(tmp_path, DAY + timedelta(days=3)) == [f"{T1}: seconds: removed"]
    assert (tmp_path / f"{T1}.json").read_text() == first


def test_the_gate_refuses_a_field_removed_from_the_real_resource_published_v2() -> None:
    current = compatibility.current_schemas()
    v2 = "cn.smartedu.catalog.resource.published.v2"
    del current[v2]["$defs"]["PublishedResource"]["properties"]["title"]
    assert gate(compatibility.load_released(), current, date.today()) == [f"{v2}: resource.title: removed"]
