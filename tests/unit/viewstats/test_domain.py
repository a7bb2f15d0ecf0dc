import uuid
from collections import Counter
from datetime import UTC, date, datetime

import pytest

from viewstats.domain.beacon import BeaconError, parse_beacon
from viewstats.domain.counters import DedupWindow, keys_of, local_minute, minute_label, tally, tally_after, view_key
from viewstats.domain.geo import ProvinceTable
from viewstats.domain.learning import CourseProgress, certificate_id, cycle_status, required_seconds
from viewstats.domain.traffic import TrafficGenerator
from viewstats.domain.uniques import DailyUniques, merged_estimate

pytestmark = pytest.mark.unit

NOW = int(datetime(2026, 11, 23, 2, 30, tzinfo=UTC).timestamp() * 1000)  # 10:30 Beijing time


def beacon(**over):
    item = {
        "event_id": str(uuid.uuid4()),
        "resource_id": "res-1",
        "section": "course_teaching",
        "user_id": "u1",
        "time": NOW,
    }
    item.update(over)
    return item


def test_beacon_parses_and_defaults_country_from_province():
    v = parse_beacon(beacon(province="43"), NOW)
    assert (v.resource_id, v.province, v.country, v.client, v.visitor_id) == ("res-1", "43", "CN", "web", "u1")
    assert parse_beacon(beacon(province="81"), NOW).country == "HK"
    anon = parse_beacon(beacon(user_id=None, visitor_id="abc"), NOW)
    assert anon.anonymous and anon.visitor_id == "anon:abc"
    assert parse_beacon(beacon(), NOW).country == "ZZ"


@pytest.mark.parametrize(
    ("over", "field"),
    [
        ({"event_id": "not-a-uuid"}, "event_id"),
        ({"resource_id": "a.b"}, "resource_id"),
        ({"section": "gossip"}, "section"),
        ({"user_id": None}, "user_id"),
        ({"province": "99"}, "province"),
        ({"country": "china"}, "country"),
        ({"client": "fax"}, "client"),
        ({"time": NOW - 8 * 24 * 3600 * 1000}, "time"),
        ({"time": "2026-11-23T10:00:00"}, "time"),
    ],
)
def test_bad_beacons_name_the_field(over, field):
    with pytest.raises(BeaconError) as err:
        parse_beacon(beacon(**over), NOW)
    assert err.value.field == field


def test_ip_province_table_covers_34_divisions_and_bisects():
    table = ProvinceTable.load()
    assert len(table.provinces()) == 34
    for code in table.provinces():
        assert table.lookup(table.sample_ip(code, 3)) == code
    assert table.lookup("10.0.0.1") is None
    assert table.lookup("2001:db8::1") is None
    assert table.lookup("garbage") is None
    with pytest.raises(ValueError, match="overlapping"):
        ProvinceTable.parse("1.0.0.0/16 11\n1.0.128.0/17 12\n")


def test_buckets_are_beijing_time():
    assert minute_label(local_minute(NOW)) == ("2026-11-23T10:30", "2026-11-23T10", "2026-11-23")
    late = int(datetime(2026, 11, 23, 16, 5, tzinfo=UTC).timestamp() * 1000)  # 00:05 next day in Beijing
    assert minute_label(local_minute(late))[2] == "2026-11-24"


def test_tally_counts_every_dimension_and_granularity():
    views = [
        parse_beacon(beacon(province="43"), NOW),
        parse_beacon(beacon(province="43"), NOW),
        parse_beacon(beacon(resource_id="res-2", province="44"), NOW),
    ]
    out = tally(view_key(v) for v in views)
    assert out["d:2026-11-23:all"] == Counter(all=3)
    assert out["h:2026-11-23T10:res"] == Counter({"res-1": 2, "res-2": 1})
    assert out["m:2026-11-23T10:30:prov"] == Counter({"43": 2, "44": 1})
    assert out["d:2026-11-23:cty"] == Counter(CN=3)
    assert out["d:total:all"] == Counter(all=3)
    assert len(out) == 16


def test_tally_after_skips_records_already_applied_per_document():
    k1 = view_key(parse_beacon(beacon(), NOW))
    k2 = view_key(parse_beacon(beacon(resource_id="res-2"), NOW))
    records = [(10, k1), (11, k2), (12, k1)]
    # a crash left the day-resource document applied up to offset 11, everything else not applied
    out = tally_after(records, {"d:2026-11-23:res": 11, "d:2026-11-23:all": 4})
    assert out["d:2026-11-23:res"] == Counter({"res-1": 1})
    assert out["d:2026-11-23:all"] == Counter(all=3)
    assert set(out) == set(keys_of(k1))


def test_dedup_window_is_a_function_of_the_previous_window_only():
    ids = ["a", "b", "a", "c", "a", "b", "d", "a"]
    full = DedupWindow(3)
    decisions = [full.seen(e, o) for o, e in enumerate(ids)]
    assert decisions == [False, False, True, False, True, False, False, True]
    # a consumer restarting at committed offset 5 re-reads [2, 5) and then decides the same way
    warm = DedupWindow(3)
    for o in range(2, 5):
        warm.seen(ids[o], o)
    assert [warm.seen(ids[o], o) for o in range(5, 8)] == decisions[5:]


def test_unique_visitors_merge_across_partitions():
    p0, p1 = DailyUniques(), DailyUniques()
    for i in range(5000):
        (p0 if i % 2 else p1).add("2026-11-23", f"u{i % 3000}", f"res-{i % 7}", "43")
    blobs = [p.take_dirty()[("2026-11-23", "all")] for p in (p0, p1)]
    assert abs(merged_estimate(blobs) - 3000) < 3000 * 0.03
    restored = DailyUniques()
    restored.load("2026-11-23", "all", blobs[0])
    assert not restored.dirty


def test_course_credit_happens_exactly_once():
    p = CourseProgress("t1", "course-1")
    need = required_seconds(1.0)
    assert need == 2700
    finished = [p.add(f"hb{i}", 300, 1.0) for i in range(12)]
    assert finished.count(True) == 1 and finished.index(True) == 8
    assert p.add("hb0", 300, 1.0) is False  # replayed heartbeat
    assert p.seconds == 12 * 300
    assert certificate_id("t1", "course-1") == certificate_id("t1", "course-1") != certificate_id("t2", "course-1")


def test_five_year_cycle():
    s = cycle_status({2021: 100, 2022: 80, 2023: 90, 2024: 60, 2025: 50, 2026: 40}, 2026)
    assert s.total == 320 and not s.met and s.missing == 40 and 2021 not in s.hours_by_year


def test_traffic_generator_shape():
    gen = TrafficGenerator(resources=500, duplicate_share=0.05, seed=7)
    items = list(gen.day(date(2026, 11, 23), 20_000))
    ids = Counter(i["event_id"] for i in items)
    dupes = sum(n - 1 for n in ids.values())
    assert len(ids) == 20_000 and 600 < dupes < 1400
    by_res = Counter(i["resource_id"] for i in items)
    assert by_res["res-000000"] > 20 * by_res["res-000250"]  # Zipf head vs tail
    hours = Counter(datetime.fromtimestamp(i["time"] / 1000 + 8 * 3600, UTC).hour for i in items)
    assert hours[10] > 10 * hours[3]
    anon = sum("visitor_id" in i for i in items) / len(items)
    assert 0.3 < anon < 0.4
    for i in items[:200]:
        parse_beacon(i, i["time"])


def test_certificate_pdf_carries_its_number():
    from viewstats.domain.certificate import certificate_pdf

    number = certificate_id("t1", "course-1")
    pdf = certificate_pdf(number, "t1", "course-1", 2.5, date(2026, 11, 23))
    assert pdf.startswith(b"%PDF-") and number.encode() in pdf
