"""The views topic's wire format: what the collector writes validates as the contract (``ViewRecorded``), and the
aggregator's body decoder (``wire.VIEW_BODY``, a msgspec struct, not the pydantic model) reads the contract's
fields with the contract's types, so the two cannot drift apart unnoticed."""

import typing
from datetime import UTC, datetime

import msgspec
import pytest

from common.contracts.viewstats import ViewRecorded
from viewstats.domain.beacon import parse_beacon
from viewstats.wire import VIEW_BODY, ViewBody, view_record

pytestmark = pytest.mark.unit

NOW = int(datetime(2026, 11, 23, 2, 30, tzinfo=UTC).timestamp() * 1000)


def test_the_body_struct_names_contract_fields_with_their_optionality():
    contract = ViewRecorded.model_fields
    for field in msgspec.structs.fields(ViewBody):
        assert field.name in contract, f"{field.name} is not a field of {ViewRecorded.TYPE}"
        # the struct may be stricter (a field the collector always writes is required), never looser
        assert field.required or not contract[field.name].is_required(), field.name
        nullable = type(None) in typing.get_args(field.type)
        assert nullable == (type(None) in typing.get_args(contract[field.name].annotation)), field.name
    # every field the aggregator counts by is read
    assert {"resource_id", "section", "visitor_id", "province", "country", "viewed_at"} <= set(
        ViewBody.__struct_fields__
    )


def test_what_the_collector_writes_decodes_as_the_contract_and_as_the_struct():
    beacon = {
        "event_id": "0b7f3c1e-8d7a-4f0e-9a51-7c2d9e6b4a10",
        "resource_id": "res-000003",
        "section": "course_teaching",
        "visitor_id": "u468106",
        "client": "mini_program",
        "time": NOW - 1000,
    }
    _key, value, _headers = view_record(parse_beacon(beacon, NOW, province="37", country="CN"))
    contract = ViewRecorded.model_validate_json(value)
    body = VIEW_BODY.decode(value)
    for name in ViewBody.__struct_fields__:
        got = getattr(body, name)
        want = getattr(contract, name)
        assert (datetime.fromisoformat(got) if name == "viewed_at" else got) == want, name


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b'{"resource_id": 7, "section": "s", "visitor_id": "v", "province": null, "country": "CN", "viewed_at": "t"}',
        b'{"resource_id": "r", "section": "s", "visitor_id": null, "province": null, "country": "C", "viewed_at": "t"}',
        b'{"resource_id": "r", "section": "s", "visitor_id": "v", "province": 37, "country": "CN", "viewed_at": "t"}',
        b'{"resource_id": "r", "visitor_id": "v", "province": "37", "country": "CN", "viewed_at": "t"}',
        b'{"resource_id": "r", "section": "s", "visitor_id": "v", "country": "CN", "viewed_at": "t"}',
        b"[1, 2]",
    ],
)
def test_a_body_the_contract_or_the_collector_would_not_write_is_refused(body):
    with pytest.raises(msgspec.DecodeError):
        VIEW_BODY.decode(body)
