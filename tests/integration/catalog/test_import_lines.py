"""Bulk import lines that are JSON but not objects (found by the adversarial suite's fuzzing: a 500)."""

from __future__ import annotations

import pytest

from tests.integration.catalog.test_catalog_api import ADMIN

pytestmark = pytest.mark.integration


async def test_lines_that_are_json_but_not_objects_are_reported_not_a_500(catalog, tokens):
    lines = [b"71787", b"[1, 2]", b'"text"', b"null", b"true"]
    r = await catalog.client.post("/v1/import", content=b"\n".join(lines), headers=tokens.headers(*ADMIN))
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["error_count"] == len(lines)
    assert [(e["line"], e["status"]) for e in report["errors"]] == [(n, 422) for n in range(1, len(lines) + 1)]
