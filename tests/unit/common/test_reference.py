"""The one vocabulary (common.reference) and what it is for: a province is one key in every service."""

from datetime import UTC, datetime

import orjson
import pytest
from pydantic import ValidationError

from catalog.domain.resource import ResourceContent
from common.auth import Principal, Role, org_covers
from common.contracts.catalog import PublishedResource, ResourcePublished, ResourcePublishedV1
from common.messaging import decode, encode
from common.reference import (
    PROVINCES,
    SECTIONS,
    country_of_province,
    province_code,
    province_of_org,
)
from identity.domain import orgs
from tests.unit.common.test_cloudevents import record
from viewstats.api import allowed_provinces
from viewstats.domain.beacon import parse_beacon
from viewstats.domain.counters import view_key
from viewstats.domain.geo import ProvinceTable

pytestmark = pytest.mark.unit

NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def test_34_provincial_divisions_keyed_by_gbt2260_with_names_slugs_and_former_letters():
    assert len(PROVINCES) == 34
    assert sum(p.country == "CN" for p in PROVINCES.values()) == 31
    hunan = PROVINCES["43"]
    assert (hunan.name, hunan.short, hunan.slug, hunan.abbr, hunan.org_path) == (
        "湖南省",
        "湖南",
        "hunan",
        "hn",
        "cn/43",
    )
    assert len({p.slug for p in PROVINCES.values()}) == len({p.abbr for p in PROVINCES.values()}) == 34
    assert len(SECTIONS) == 12


@pytest.mark.parametrize(
    ("given", "code"),
    [
        *[("43", "43"), ("hn", "43"), ("HN", "43"), ("hunan", "43"), ("sn", "61"), ("shaanxi", "61"), ("sx", "14")],
        *[("99", None), ("xx", None), ("", None), (None, None), (43, None), ("cn/43", None)],
    ],
)
def test_province_code_accepts_the_code_its_former_letters_or_its_slug(given, code):
    assert province_code(given) == code


def test_province_of_an_org_path_and_the_region_its_visitors_count_in():
    assert province_of_org("cn/43/4301/430102/school-1") == "43"
    assert province_of_org("cn/43", exact=True) == "43"
    assert province_of_org("cn/43/4301", exact=True) is None
    assert [province_of_org(p) for p in ("cn", "provider/prov-hn", "cn/99", None)] == [None] * 4
    assert [country_of_province(c) for c in ("43", "81", "82", "71", None)] == ["CN", "HK", "MO", "TW", "ZZ"]


def test_a_local_channel_resource_is_in_its_province_admins_scope_and_figures():
    """The point of one vocabulary: the catalog's local channel, identity's org node, a province admin's scope
    and viewstats' province figures name Hunan with the same key."""
    resource = ResourceContent(kind="video_lesson", section="local_channels", local_channel="hn")  # former letters
    assert resource.local_channel == "43"
    node = next(n for n in orgs.seed_nodes(demo=False) if n.code == resource.local_channel)
    assert node.name == "湖南省" and node.path == PROVINCES[resource.local_channel].org_path

    hunan_admin = Principal(subject="u1", roles=(Role.parse("province_admin@cn/43"),), token_id="t", expires_at=NOW)
    guangdong_admin = Principal(subject="u2", roles=(Role.parse("province_admin@cn/44"),), token_id="t", expires_at=NOW)
    assert org_covers("cn/43", node.path)
    assert hunan_admin.has_role("province_admin", org=node.path)
    assert not guangdong_admin.has_role("province_admin", org=node.path)
    # viewstats: the provinces whose figures an admin sees, and the province a view from Hunan is counted in
    assert resource.local_channel in allowed_provinces(hunan_admin)
    assert resource.local_channel not in allowed_provinces(guangdong_admin)
    table = ProvinceTable.load()
    ip = table.sample_ip(resource.local_channel)
    view = parse_beacon(
        {
            "event_id": "0f8fad5b-d9cb-469f-a165-70867728950e",
            "resource_id": "r1",
            "section": resource.section,
            "visitor_id": "v1",
            "time": int(NOW.timestamp() * 1000),
        },
        int(NOW.timestamp() * 1000),
        province=table.lookup(ip),
    )
    assert view_key(view)[3] == resource.local_channel == "43"


def _snapshot(**over) -> dict:
    return {
        "id": "r1",
        "external_id": "e1",
        "version": 1,
        "kind": "video_lesson",
        "title": "湖南地方频道",
        "section": "local_channels",
        "local_channel": "43",
        "provider_kind": "province",
        "provider_id": "prov-hn",
        "license": "CC-BY-NC-ND-4.0",
        "created_at": NOW.isoformat(),
        "published_at": NOW.isoformat(),
        "updated_at": NOW.isoformat(),
        **over,
    }


def test_resource_published_v2_carries_the_code_and_a_v1_record_reads_as_it():
    event = ResourcePublished(resource=PublishedResource.model_validate(_snapshot()), cursor="c1")
    body, headers = encode(event, "/services/catalog")
    assert headers["ce_type"] == "cn.smartedu.catalog.resource.published.v2"
    assert orjson.loads(body)["resource"]["local_channel"] == "43"
    # A record the catalog wrote before the change: v1, letters. Every consumer reads it as ResourcePublished.
    old = orjson.dumps({"resource": _snapshot(local_channel="hn"), "cursor": "c0"})
    envelope = decode(record(old, {**headers, "ce_type": ResourcePublishedV1.TYPE}, key=b"r1"))
    assert isinstance(envelope.event, ResourcePublished)
    assert envelope.event.resource.local_channel == "43"


@pytest.mark.parametrize("value", ["xx", "99", "4301", 43])
def test_a_published_snapshot_refuses_what_is_not_a_province(value):
    with pytest.raises(ValidationError) as exc:
        PublishedResource.model_validate(_snapshot(local_channel=value))
    assert exc.value.errors()[0]["loc"] == ("local_channel",)
