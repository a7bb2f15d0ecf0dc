"""Every number and cursor a client can pass in a query string, on every service, is bounded in the API itself
(an unbounded catalog cursor once reached tantivy and aborted the process). A new route with an unbounded
``limit``/``offset``/cursor fails here before it ships."""

import importlib

import pytest

pytestmark = pytest.mark.unit

APPS = [
    "catalog.app",
    "identity.app",
    "recommender.app",
    "classgroups.app",
    "viewstats.app",
    "viewstats.collector.app",
]
CURSOR_NAMES = {"cursor", "after", "before", "page_token", "next"}


def _query_parameters(module: str):
    spec = importlib.import_module(module).create_app().openapi()
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "query":
                    schema = parameter["schema"]
                    for variant in schema.get("anyOf", [schema]):
                        yield f"{method.upper()} {path} ?{parameter['name']}", parameter["name"], variant


@pytest.mark.parametrize("module", APPS)
def test_every_integer_and_cursor_in_a_query_string_is_bounded(module: str) -> None:
    unbounded = []
    for where, name, schema in _query_parameters(module):
        if schema.get("type") == "integer" and not {"minimum", "maximum"} <= schema.keys():
            unbounded.append(where)
        if name in CURSOR_NAMES and schema.get("type") == "string" and "maxLength" not in schema:
            unbounded.append(where)
    assert not unbounded, f"unbounded query parameters: {unbounded}"
