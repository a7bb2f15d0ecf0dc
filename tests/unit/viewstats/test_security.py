"""Issue 13 in viewstats' domain: learning hours only as fast as the server's clock, per-resource maps bounded
whatever ids beacons name, the collector's per-address limiter, and which write errors can never succeed."""

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from bson.errors import InvalidDocument
from pymongo.errors import AutoReconnect, BulkWriteError, DocumentTooLarge, DuplicateKeyError

from viewstats.domain.counters import OTHER_RESOURCES, merge_capped, tally, without_resources
from viewstats.domain.learning import Beat, credited_seconds
from viewstats.domain.ratelimit import RateLimiter, client_key
from viewstats.store import refused_for_good

pytestmark = pytest.mark.unit
T0 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


def beat(i: int, at: datetime, seconds: int = 300) -> Beat:
    return Beat(f"e{i}", 0, i, "t1", "course-1", seconds, at)


def test_a_burst_of_heartbeats_credits_only_the_time_that_passed():
    # hole 5: 90 beats of 300 s within 3 s used to credit 27,000 s (a 10-hour course)
    burst = [beat(i, T0 + timedelta(seconds=i // 30)) for i in range(90)]
    credits, last = credited_seconds(burst, None)
    assert sum(credits) == 2 and last == T0 + timedelta(seconds=2)
    # the same burst after an earlier accepted beat: still only the elapsed time
    credits, _ = credited_seconds(burst, T0 - timedelta(seconds=10))
    assert sum(credits) == 12


def test_beats_of_a_real_watcher_are_credited_in_full_and_never_above_their_claim():
    beats = [beat(i, T0 + timedelta(minutes=5 * i)) for i in range(4)]
    assert credited_seconds(beats, None)[0] == [0, 300, 300, 300]  # the first beat starts the clock
    assert credited_seconds(beats, T0 - timedelta(hours=5))[0] == [300] * 4  # a pause is not banked
    short = [beat(i, T0 + timedelta(minutes=i), seconds=30) for i in range(3)]
    assert credited_seconds(short, T0 - timedelta(minutes=1))[0] == [30, 30, 30]


def test_a_beat_stamped_before_the_last_accepted_one_credits_nothing_and_keeps_the_clock():
    credits, last = credited_seconds([beat(1, T0 - timedelta(minutes=3)), beat(2, T0 + timedelta(minutes=1))], T0)
    assert credits == [0, 60] and last == T0 + timedelta(minutes=1)


def test_unlisted_resources_leave_the_per_resource_maps_and_nothing_else():
    minute = 29_000_000
    counts = tally([(minute, r, "course_teaching", "43", "CN") for r in ("real", "made-up")])
    without_resources(counts, {"made-up"})
    for key, dims in counts.items():
        if "res" in dims:
            assert set(dims["res"]) == {"real"}, key
        assert sum(dims["all"].values()) == 2, key  # the platform still counts both views


def test_a_per_resource_map_never_exceeds_its_cap():
    stored = Counter({f"r{i}": 1 for i in range(5)})
    merged = merge_capped(stored, Counter({"r0": 2, "x1": 1, "x2": 1, "x3": 1}), cap=7)
    assert len(merged) == 7 and merged["r0"] == 3 and merged["x1"] == 1 and merged[OTHER_RESOURCES] == 2
    assert sum(merged.values()) == sum(stored.values()) + 5  # nothing lost, the excess is under ~other
    again = merge_capped(merged, Counter({f"y{i}": 1 for i in range(1000)}), cap=7)
    assert len(again) == 7 and again[OTHER_RESOURCES] == 1002
    assert merge_capped(stored, Counter(r9=1), cap=100) == stored + Counter(r9=1)


def test_the_limiter_admits_a_burst_then_the_rate_and_forgets_the_least_recent_clients():
    limiter = RateLimiter(rate=10, burst=100, max_clients=3)
    assert limiter.admit("a", 0.0) is None
    limiter.charge("a", 1000, 0.0)  # one big batch: in debt to -burst
    wait = limiter.admit("a", 1.0)
    assert wait is not None and wait == pytest.approx(9.1)  # (1 − (−100 + 10)) / 10
    assert limiter.admit("b", 1.0) is None  # another address is not affected
    assert limiter.admit("a", 11.0) is None
    for key in ("c", "d", "e"):
        limiter.admit(key, 12.0)
    assert len(limiter) == 3


def test_client_keys_group_an_ipv6_subscriber_and_refuse_garbage():
    assert client_key("2001:db8:1:2:aaaa::1") == client_key("2001:db8:1:2:bbbb::2") == "2001:db8:1:2::/64"
    assert client_key("::ffff:10.1.2.3") == "10.1.2.3" == client_key("10.1.2.3")
    assert client_key("not an ip") == client_key(None) == "unknown"


def test_only_writes_the_store_refuses_as_such_are_given_up_at_once():
    assert refused_for_good(DocumentTooLarge("too big")) and refused_for_good(InvalidDocument("key '$x'"))
    too_large = BulkWriteError({"writeErrors": [{"index": 0, "code": 10334, "errmsg": "too large"}]})
    assert refused_for_good(too_large)
    duplicate = BulkWriteError({"writeErrors": [{"index": 0, "code": 11000, "errmsg": "dup"}]})
    assert not refused_for_good(duplicate) and not refused_for_good(DuplicateKeyError("dup", 11000))
    assert not refused_for_good(AutoReconnect("store down"))
