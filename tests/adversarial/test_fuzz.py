"""Property-based fuzzing of every documented operation of every service from the service's own OpenAPI
(schemathesis): valid and invalid requests, sent as the users the operation's access rule names (anonymous for
public routes, a student for signed-in ones, the ministry admin and a scoped admin for role rules), to the
running processes. Every answer must be below 500, match its documented schema and content type, and every
error must be ``application/problem+json``.

Bounded for CI: ``ADVERSARIAL_FUZZ_EXAMPLES`` examples per operation, user and mode (default 10), derandomized
(the same cases every run: a failure reproduces), no shrinking. Each failure is reported with its curl command.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
from functools import cache
from typing import Any

import orjson
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import content_type_conformance, not_a_server_error, response_schema_conformance

from common import access
from common.problems import PROBLEM_JSON
from tests.adversarial.platform import PERSONAS, Platform, apps, operations

pytestmark = [pytest.mark.adversarial, pytest.mark.timeout(300)]

EXAMPLES = int(os.environ.get("ADVERSARIAL_FUZZ_EXAMPLES", "10"))

# Operations whose fuzzing waits for another engineer's fix: "METHOD path" → the hole and the branch. The lead
# removes an entry after merging that branch (the case then runs, and must pass).
SKIP: dict[tuple[str, str], str] = {}


@schemathesis.serializer("application/x-ndjson")
def _ndjson(ctx: Any, value: Any) -> bytes:
    """Catalog's bulk import takes JSON lines: what the generator made, one JSON document per line."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    return b"\n".join(orjson.dumps(v) for v in (value if isinstance(value, list) else [value]))


@schemathesis.serializer("text/csv")
def _csv(ctx: Any, value: Any) -> bytes:
    """Class groups' roster import takes CSV too: the generated string as it is."""
    return value if isinstance(value, bytes) else str(value).encode()


# Errors that a standard defines in another format: RFC 6749 §5.2 (token endpoint) answers {"error": ...} JSON.
NOT_PROBLEM_JSON = {("identity", "POST /oauth2/token")}


def fuzz_personas(rule: access.Access) -> list[str]:
    """Who calls the operation: the weakest user the rule admits, and for role rules also the ministry admin
    (who reaches the deepest code)."""
    if rule.kind in ("public", "oauth_client"):
        return ["anonymous"]
    if rule.kind == "signed_in":
        return ["student"]
    if rule.kind == "account_kind":
        return [rule.kinds[0]]
    if rule.kind == "role":
        scoped = next(
            (
                p
                for p, (_, roles) in PERSONAS.items()
                if p != "ministry_admin" and any(r.partition("@")[0] in rule.roles for r in roles)
            ),
            None,
        )
        return ["ministry_admin", *([scoped] if scoped else [])]
    return ["ministry_admin", "school_admin_in"]


def problem_json(ctx: Any, response: schemathesis.Response, case: schemathesis.Case) -> bool | None:
    """Every error is RFC 9457 problem+json."""
    if response.status_code >= 400:
        content_type = response.headers.get("content-type", [""])[0]
        assert content_type.startswith(PROBLEM_JSON), (
            f"{response.status_code} answered as {content_type!r}, not {PROBLEM_JSON}"
        )
    return None


@cache
def _schema(url: str) -> Any:
    document = requests.get(f"{url}/openapi.json", timeout=30).json()
    return schemathesis.openapi.from_dict(document)


def _fuzz(platform: Platform, service: str, method: str, path: str, persona: str, mode: GenerationMode) -> list[str]:
    base_url = platform.urls[service]
    operation = _schema(base_url)[path][method]
    headers = platform.personas[persona].headers
    checks = [not_a_server_error, response_schema_conformance]
    if (service, f"{method} {path}") not in NOT_PROBLEM_JSON:
        checks += [content_type_conformance, problem_json]
    failures: list[str] = []
    session = requests.Session()

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: schemathesis.Case) -> None:
        response = case.call(base_url=base_url, headers=headers, session=session, timeout=30)
        try:
            case.validate_response(response, checks=checks, headers=headers)
        except (AssertionError, BaseExceptionGroup) as exc:  # schemathesis' failures: keep going, report them all
            failures.append(f"as {persona} ({mode.value}): {exc}\n  {case.as_curl_command(base_url=base_url)}")

    # Unsatisfiable: no invalid value exists for this operation's parameters (e.g. one free-form string)
    with contextlib.suppress(Unsatisfiable):
        run()
    return failures


def _cases() -> list[Any]:
    out = []
    for service, method, path, rule in operations():
        label = f"{method} {path}"
        marks = [pytest.mark.skip(reason=SKIP[(service, label)])] if (service, label) in SKIP else []
        out.append(pytest.param(service, method, path, rule, id=f"{service} {label}", marks=marks))
    return out


@pytest.mark.parametrize(("service", "method", "path", "rule"), _cases())
def test_fuzz(platform: Platform, service: str, method: str, path: str, rule: access.Access) -> None:
    failures = []
    for persona in fuzz_personas(rule):
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            failures += _fuzz(platform, service, method, path, persona, mode)
    assert not failures, f"{len(failures)} failing case(s):\n" + "\n".join(failures[:5])


# --- hostile paging values -------------------------------------------------------------------------------------
# Random generation rarely hits the values that break pagination (hole 1: a cursor decoding to an offset of 10^10
# aborted the catalog process). Every cursor, offset and limit the platform accepts gets them here.
PAGING = ("cursor", "after", "offset", "limit", "n")
HUGE = 10**10


def _cursor(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps({"o": value}).encode()).decode().rstrip("=")


HOSTILE_INTEGERS = [-1, 0, 2**31, 2**63, HUGE, -HUGE, "1e9", "NaN"]
HOSTILE_CURSORS = [_cursor(HUGE), _cursor(-5), _cursor(2**70), _cursor("x"), _cursor(None), "!!!", "e30", "A" * 5000]


def _paging_cases() -> list[Any]:
    out = []
    for service, method, path, rule in operations():
        spec = apps()[service].openapi()["paths"][path][method.lower()]
        names = [p["name"] for p in spec.get("parameters", []) if p["in"] == "query" and p["name"] in PAGING]
        if names:
            out.append(pytest.param(service, method, path, rule, names, id=f"{service} {method} {path}"))
    return out


@pytest.mark.parametrize(("service", "method", "path", "rule", "names"), _paging_cases())
def test_hostile_paging_values(
    platform: Platform, service: str, method: str, path: str, rule: access.Access, names: list[str]
) -> None:
    base_url = platform.urls[service]
    operation = _schema(base_url)[path][method]
    persona = fuzz_personas(rule)[0]
    headers = platform.personas[persona].headers
    drawn: list[schemathesis.Case] = []

    @settings(max_examples=1, derandomize=True, deadline=None, database=None, phases=[Phase.generate])
    @given(case=operation.as_strategy())
    def draw(case: schemathesis.Case) -> None:
        drawn.append(case)

    draw()
    failures = []
    for name in names:
        for value in HOSTILE_CURSORS if name in ("cursor", "after") else HOSTILE_INTEGERS:
            case = drawn[0]
            case.query = {**(case.query or {}), name: value}
            response = case.call(base_url=base_url, headers=headers, timeout=30)
            content_type = response.headers.get("content-type", "")
            if response.status_code >= 500 or (response.status_code >= 400 and PROBLEM_JSON not in content_type):
                failures.append(f"{name}={str(value)[:40]} as {persona}: {response.status_code} {response.text[:200]}")
    assert not failures, "\n".join(failures)
