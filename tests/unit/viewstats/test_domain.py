import random
import re
import uuid
from collections import Counter
from datetime import UTC, date, datetime, timedelta

import pytest

from common.contracts.viewstats import ViewRecorded
from deploy.local.traffic import TrafficGenerator
from viewstats.domain.beacon import BeaconError, parse_beacon, views_request_schema
from viewstats.domain.counters import (
    DedupWindow,
    PendingViews,
    keys_of,
    local_minute,
    minute_label,
    tally,
    tally_after,
    view_key,
)
from viewstats.domain.geo import ProvinceTable
from viewstats.domain.learning import (
    CERTIFICATE_ID_PATTERN,
    Beat,
    beats_to_count,
    certificate_id,
    credit_year,
    cycle_status,
    field_key,
    finishing_time,
    required_seconds,
)
from viewstats.domain.partition import PartitionState
from viewstats.domain.popularity import PopularityWindow, trend
from viewstats.domain.uniques import DailyUniques, merged_estimate
from viewstats.wire import view_record

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


SCHEMA_CHECKABLE = ("event_id", "resource_id", "section", "user_id", "province", "country", "client")


def test_the_documented_beacon_schema_agrees_with_the_parser():
    """The collector parses beacons by hand for speed; its OpenAPI documents them from the same rules. A client
    built from the schema must send what the parser accepts, and the schema must refuse what the parser refuses
    (the time window aside, which a schema cannot express)."""
    import jsonschema_rs

    valid = jsonschema_rs.validator_for(views_request_schema(1000)).is_valid
    good = [
        beacon(),
        beacon(province="43", client="harmony"),
        beacon(user_id=None, visitor_id="abc") | {"user_id": "u2"},
        {k: v for k, v in beacon(country="HK").items() if k != "user_id"} | {"visitor_id": "v-1"},
        beacon(time="2026-11-23T10:00:00+08:00"),
    ]
    for item in good:
        parse_beacon(item, NOW)
        assert valid(item) and valid([item, item]) and valid({"views": [item]}), item
    assert not valid([]) and not valid([beacon()] * 1001)
    for field, bad in [
        ("event_id", "not-a-uuid"),
        ("resource_id", "a.b"),
        ("section", "gossip"),
        ("user_id", None),
        ("province", "99"),
        ("country", "china"),
        ("client", "fax"),
    ]:
        item = beacon(**{field: bad})
        with pytest.raises(BeaconError):
            parse_beacon(item, NOW)
        assert not valid(item) and not valid({"views": [item]}), field
    assert set(SCHEMA_CHECKABLE) <= set(views_request_schema(1)["anyOf"][0]["properties"])


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
    assert out["d:2026-11-23"]["all"] == Counter(all=3)
    assert out["h:2026-11-23T10"]["res"] == Counter({"res-1": 2, "res-2": 1})
    assert out["m:2026-11-23T10:30"]["prov"] == Counter({"43": 2, "44": 1})
    assert out["d:2026-11-23"]["cty"] == Counter(CN=3)
    assert out["d:total"] == {"all": Counter(all=3)}
    assert set(out) == {"m:2026-11-23T10:30", "h:2026-11-23T10", "d:2026-11-23", "d:total"}


def test_tally_rolls_minutes_up_into_hours_and_days_as_counting_each_view_would():
    """Views across an hour and a day boundary (Beijing time): every document holds exactly what adding each
    view to its minute, hour and day one by one gives."""
    rng = random.Random(7)
    start = local_minute(int(datetime(2026, 11, 23, 15, 50, tzinfo=UTC).timestamp() * 1000))  # 23:50 in Beijing
    keys = [
        (
            start + rng.randrange(30),
            f"res-{rng.randrange(40)}",
            rng.choice(["textbooks", "after_school"]),
            rng.choice(["43", "44", "none"]),
            rng.choice(["CN", "HK"]),
        )
        for _ in range(3000)
    ]
    expected: dict[str, dict[str, Counter]] = {}
    for minute, res, sec, prov, cty in keys:
        m, h, d = minute_label(minute)
        for doc_key, sub in ((f"m:{m}", None), (f"h:{h}", ("min", m[-2:])), (f"d:{d}", ("hr", h[-2:]))):
            doc = expected.setdefault(doc_key, {})
            dims = [("all", "all"), ("res", res), ("sec", sec), ("prov", prov), ("cty", cty)] + ([sub] if sub else [])
            for dim, value in dims:
                doc.setdefault(dim, Counter())[value] += 1
    out = tally(keys)
    assert out.pop("d:total") == {"all": Counter(all=3000)}
    assert {k: {d: c for d, c in doc.items() if c} for k, doc in out.items()} == expected
    assert {"h:2026-11-23T23", "h:2026-11-24T00", "d:2026-11-23", "d:2026-11-24"} <= set(out)


def test_tally_after_skips_records_already_applied_per_document():
    k1 = view_key(parse_beacon(beacon(), NOW))
    k2 = view_key(parse_beacon(beacon(resource_id="res-2"), NOW))
    records = [(10, k1), (11, k2), (12, k1)]
    # a crash left the day document applied up to offset 11, the total up to 4, the rest not applied
    out = tally_after(records, {"d:2026-11-23": 11, "d:total": 4})
    assert out["d:2026-11-23"]["res"] == Counter({"res-1": 1}) and out["d:2026-11-23"]["all"] == Counter(all=1)
    assert out["h:2026-11-23T10"]["res"] == Counter({"res-1": 2, "res-2": 1})
    assert out["d:total"] == {"all": Counter(all=3)}
    assert set(out) == set(keys_of(k1))


def test_pending_views_hand_a_flush_its_first_n_while_reading_appends():
    k1 = view_key(parse_beacon(beacon(), NOW))
    k2 = view_key(parse_beacon(beacon(resource_id="res-2"), NOW))
    pending = PendingViews()
    for offset, key in [(10, k1), (11, k2), (12, k1)]:
        pending.append(offset, key)
    n = len(pending)  # a flush takes these three...
    pending.append(13, k2)  # ...while the loop reads on
    assert pending.counts(n) == Counter({k1: 2, k2: 1}) and pending.first_offset() == 10
    assert pending.records(n) == [(10, k1), (11, k2), (12, k1)]
    assert tally(pending.counts(n)) == tally([k1, k2, k1])
    pending.drop(n)  # written and committed
    assert len(pending) == 1 and pending.records(1) == [(13, k2)] and pending.counts(1) == Counter({k2: 1})
    pending.drop(1)
    pending.append(14, k1)  # the key table starts over once empty
    assert pending.records(1) == [(14, k1)]


def test_pending_views_keep_only_the_keys_of_queued_views_when_never_empty():
    """A busy aggregator's queue is never empty after a flush (it reads on meanwhile): the key table must not keep
    the keys of every view ever read."""
    pending, offset = PendingViews(), 0
    keys = [view_key(parse_beacon(beacon(resource_id=f"res-{i}"), NOW)) for i in range(60_000)]
    for flush in range(4):
        for key in keys[flush * 15_000 : (flush + 1) * 15_000]:
            pending.append(offset, key)
            offset += 1
        n = len(pending) - 100  # the last 100 arrived during the flush
        pending.drop(n)
        assert len(pending._keys) <= 2 * len(pending) + 10_000
    queued = keys[60_000 - 100 :]
    assert pending.records(100) == [(60_000 - 100 + i, key) for i, key in enumerate(queued)]
    assert pending.counts(100) == Counter(queued)
    pending.append(offset, queued[0])  # a queued key keeps one number
    assert pending.counts(101)[queued[0]] == 2 and len(pending._keys) == 100


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
    groups = [p.serialize(p.take_dirty()) for p in (p0, p1)]
    assert set(groups[0]) == {("2026-11-23", "all"), ("2026-11-23", "res"), ("2026-11-23", "prov")}
    assert set(groups[0][("2026-11-23", "res")]) == {f"res-{i}" for i in range(7)}  # a group is written whole
    blobs = [g[("2026-11-23", "all")]["all"] for g in groups]
    assert abs(merged_estimate(blobs) - 3000) < 3000 * 0.03
    restored = DailyUniques()
    restored.load("2026-11-23", "all", blobs[0])
    assert not restored.dirty and not p0.take_dirty()


KEY = b"test-key"


def beat(offset, event_id=None, resource="course-1", seconds=300, user="t1"):
    at = datetime(2026, 11, 23, 2, 0, tzinfo=UTC) + timedelta(minutes=offset)
    return Beat(event_id or f"e{offset}", 3, offset, user, resource, seconds, at)


def test_each_distinct_heartbeat_counts_once_under_redelivery_and_retries():
    beats = [beat(10), beat(11, "e10"), beat(12), beat(13, resource="course-2")]
    # first delivery: every claim is fresh, except the client's retry of e10 at offset 11 (claimed by offset 10)
    plan = beats_to_count(beats, {1: (3, 10)}, {})
    assert [b.offset for b in plan["t1|course-1"]] == [10, 12] and [b.offset for b in plan["t1|course-2"]] == [13]
    # redelivery after a crash: all claims exist; course-1 was updated up to offset 12, course-2 never
    replay = beats_to_count(beats, {0: (3, 10), 1: (3, 10), 2: (3, 12), 3: (3, 13)}, {"t1|course-1": 12})
    assert list(replay) == ["t1|course-2"] and [b.offset for b in replay["t1|course-2"]] == [13]
    # another user's heartbeat with the same event id is its own claim
    assert beat(1, "same", user="a").claim_id != beat(1, "same", user="b").claim_id


def test_finishing_time_is_the_heartbeat_that_crosses_the_threshold():
    beats = [(300, "a"), (300, "b"), (300, "c")]
    assert finishing_time(2100, beats, required_seconds(1.0)) == "b"  # 2100 + 300 + 300 ≥ 2700
    assert finishing_time(2700, beats, 2700) is None  # crossed in an earlier delivery
    assert finishing_time(0, beats, 2700) is None
    assert credit_year(datetime(2026, 12, 31, 16, 30, tzinfo=UTC)) == 2027  # already 1 January in Beijing


def test_certificate_numbers_are_keyed_and_stable():
    number = certificate_id(KEY, "t1", "course-1")
    assert re.match(CERTIFICATE_ID_PATTERN, number)
    assert number == certificate_id(KEY, "t1", "course-1") != certificate_id(KEY, "t2", "course-1")
    assert number != certificate_id(b"other-key", "t1", "course-1")
    assert field_key("r0123abc") == "r0123abc" and "." not in field_key("a.b") and "$" not in field_key("$x")


def test_popularity_windows_and_trend():
    minute = local_minute(NOW)  # 10:30 Beijing
    w = PopularityWindow()
    w.add(
        tally([(minute, "hot", "course_teaching", "43", "CN")] * 30 + [(minute - 90, "hot", "x", "43", "CN")] * 10),
        minute,
    )
    w.add(tally([(minute - 70, "old", "course_teaching", "43", "CN")] * 8), minute)
    w.add(tally([(minute - 60 * 30, "yesterday", "course_teaching", "43", "CN")]), minute)  # out of the window
    assert minute_label(minute - 60 * 30)[1] not in w.hours  # not even held until the next snapshot
    assert sorted(w.minutes) == [minute_label(m)[0] for m in (minute - 90, minute - 70, minute)]
    snap = w.snapshot(minute)
    assert snap["hot"] == (30, 10, 40) and snap["old"] == (0, 8, 8) and "yesterday" not in snap
    assert trend(30, 10) == "rising" and trend(0, 8) == "falling" and trend(10, 10) == "steady"
    assert trend(3, 0) == "steady"  # below the noise floor
    assert not [k for k in w.minutes if k < minute_label(minute - 120)[0]]


def test_popularity_seeded_from_stored_hours_after_a_restart():
    minute = local_minute(NOW)  # 10:30 Beijing: half of the current hour has elapsed
    w = PopularityWindow()
    w.seed(
        minute,
        {
            "2026-11-23T10": Counter(hot=40),
            "2026-11-23T09": Counter(hot=60, fading=20),
            "2026-11-23T08": Counter(hot=10),
        },
    )
    snap = w.snapshot(minute)
    # last 60 minutes ≈ 10:00-10:30 + half of 09:00-10:00; the 60 before ≈ half of 09:00 + half of 08:00
    assert snap["hot"] == (40 + 30, 30 + 5, 40 + 60 + 10) and snap["fading"] == (10, 10, 20)
    w.add(tally([(minute, "hot", "course_teaching", "43", "CN")] * 5), minute)  # live counts add on top
    assert w.snapshot(minute)["hot"][0] == 75
    assert "hot" not in w.snapshot(minute + 121) or w.snapshot(minute + 121)["hot"][:2] == (0, 0)


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


def test_a_generated_day_of_views_streams_in_time_order_with_the_same_shape():
    gen = TrafficGenerator(resources=500, duplicate_share=0.05, seed=7)
    views = list(gen.views(date(2026, 11, 23), 20_000))
    ids = Counter(v.event_id for v in views)
    assert len(ids) == 20_000 and 600 < sum(n - 1 for n in ids.values()) < 1400
    seen: set[str] = set()
    first = [v for v in views if v.event_id not in seen and not seen.add(v.event_id)]
    assert [v.time_ms for v in first] == sorted(v.time_ms for v in first)  # only the retries come late
    days = {minute_label(local_minute(v.time_ms))[2] for v in views}
    assert days == {"2026-11-23"}  # Beijing's day, as the counters bucket it
    by_res = Counter(v.resource_id for v in views)
    assert by_res["res-000000"] > 20 * by_res["res-000250"]
    hours = Counter(datetime.fromtimestamp(v.time_ms / 1000 + 8 * 3600, UTC).hour for v in views)
    assert hours[10] > 10 * hours[3]
    assert 0.3 < sum(v.anonymous for v in views) / len(views) < 0.4
    for v in views[:200]:
        ViewRecorded.model_validate_json(view_record(v)[1])  # what the collector would have written


def test_certificate_pdf_carries_its_number():
    from viewstats.domain.certificate import certificate_pdf

    number = certificate_id(KEY, "t1", "course-1")
    pdf = certificate_pdf(number, "t1", "course-1", 2.5, date(2026, 11, 23), title="教师信息技术应用能力提升")
    assert pdf.startswith(b"%PDF-") and number.encode() in pdf


def test_only_days_without_unwritten_changes_are_forgotten():
    u = DailyUniques()
    for day in ("2026-11-20", "2026-11-21", "2026-11-23"):
        u.add(day, "u1", "res-1", None)  # from abroad: no province sketch
    written = u.serialize(u.take_dirty())
    assert ("2026-11-20", "prov") not in written and ("2026-11-20", "res") in written  # no empty group is written
    u.add("2026-11-21", "u2", "res-1", "43")  # a late view, not written yet
    assert u.forget_days_before("2026-11-22") == ["2026-11-20"]
    assert sorted(u.days) == ["2026-11-21", "2026-11-23"]


def test_a_partition_not_read_yet_is_behind_by_what_follows_its_committed_offset():
    """The aggregator picks its flush limits by the lag: a partition assigned but not fetched from yet counted as
    caught up made one catching up flush at the live limits (test_catchup once saw an extra flush)."""
    state = PartitionState(3, 1_000, DedupWindow(10))
    state.committed = 1_000
    assert state.lag(5_000) == 4_000  # nothing read yet: behind by everything past the commit
    state.position = 900  # warm-up re-reads below the commit: not progress
    assert state.lag(5_000) == 4_000
    state.position = 4_999
    assert state.lag(5_000) == 0
    expired = PartitionState(4, 7_000, DedupWindow(10))
    expired.committed = 7_000  # everything before it expired: beginning == highwater
    assert expired.lag(7_000) == 0
