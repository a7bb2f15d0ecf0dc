"""The AsyncAPI documents are read by the AsyncAPI project's own CLI (`@asyncapi/cli`, issue 17): the platform's
`docs/asyncapi.json` and the document each service serves at `/asyncapi.json`. Before the event models' nested
schemas were hoisted into `components.schemas`, the CLI found 9 errors (`'#/$defs/LessonPlace' does not exist`, ...):
a subscriber's code generator failed on `resource.published`."""

from __future__ import annotations

import json

import pytest

from common import asyncapi
from common.contracts import EVENT_TYPES
from common.topics import PRINCIPALS
from tests.conftest import free_port
from tests.contracts.tools import ROOT, asyncapi_validate

DOC = ROOT / "docs" / "asyncapi.json"


@pytest.mark.integration
def test_the_platform_document_is_valid_for_the_asyncapi_cli() -> None:
    result = asyncapi_validate(str(DOC))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is valid" in result.stdout


@pytest.mark.integration
def test_the_cli_refuses_a_payload_pointing_at_a_definition_that_is_not_there(tmp_path) -> None:
    """The check can fail: the document as it was (a `$ref` into a `$defs` the document root does not have)."""
    doc = json.loads(DOC.read_text())
    schema = doc["components"]["schemas"]["catalog.resource.published.v2"]
    schema["properties"]["resource"] = {"$ref": "#/$defs/PublishedResource"}
    broken = tmp_path / "asyncapi.json"
    broken.write_text(json.dumps(doc))
    result = asyncapi_validate(str(broken))
    assert result.returncode != 0
    assert "'#/$defs/PublishedResource' does not exist" in result.stdout + result.stderr


@pytest.mark.unit
def test_the_checked_in_document_is_the_generated_one() -> None:
    assert json.loads(DOC.read_text()) == asyncapi.document(), "run `make asyncapi` and commit docs/asyncapi.json"


@pytest.mark.unit
def test_every_event_model_is_published_with_its_json_schema() -> None:
    schemas = asyncapi.document()["components"]["schemas"]
    for event_type, model in EVENT_TYPES.items():
        published = schemas[event_type.removeprefix("cn.smartedu.")]
        assert set(published["properties"]) == set(model.model_fields)
        assert "$defs" not in json.dumps(published)  # every nested model is a component of its own


@pytest.mark.e2e
@pytest.mark.timeout(600)
@pytest.mark.parametrize("factory", [p.factory for p in PRINCIPALS if p.factory.endswith(".app:create_app")])
def test_each_live_service_serves_a_document_valid_for_the_asyncapi_cli(service_process, factory) -> None:
    # as admin: this is about the document; each process under its own principal is tests/e2e/test_service_principals
    process = service_process(factory, free_port(), kafka_principal="admin").start(timeout=180)
    result = asyncapi_validate(f"{process.url}/asyncapi.json")  # the CLI fetches it from the running service
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is valid" in result.stdout
