"""The pure rules of subscriber feeds: who sees what, pseudonyms, ids, bounds of registrations and replays."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from common.errors import Invalid
from identity.domain.subscribers import (
    OFFERED,
    Subscriber,
    check_registration,
    check_replay,
    feed_event_id,
    pseudonym,
)
from identity.feeds.reader import decode_cursor, encode_cursor

pytestmark = pytest.mark.unit

PUBLISHED = "cn.smartedu.catalog.resource.published.v2"
CREDITED = "cn.smartedu.viewstats.learning.credited.v1"
CHECKIN = "cn.smartedu.classgroups.checkin.submitted.v1"
USER = "u_" + "ab" * 16


def subscriber(**kw) -> Subscriber:
    base = dict(
        id="sub-000000000001",
        name="湖南省智慧教育平台",
        kind="province",
        event_types=(PUBLISHED, CREDITED, CHECKIN),
        provinces=("43",),
        pseudonymise=True,
        key=b"k" * 32,
    )
    return Subscriber(**(base | kw))


def test_a_province_sees_the_national_catalog_its_own_channel_and_its_own_events() -> None:
    s = subscriber()
    assert s.admits(PUBLISHED, None)
    assert s.admits(PUBLISHED, "43", local_channel=True)
    assert not s.admits(PUBLISHED, "11", local_channel=True)
    assert s.admits(CHECKIN, "43") and not s.admits(CHECKIN, "11") and not s.admits(CHECKIN, None)
    assert not s.admits("cn.smartedu.classgroups.class.created.v1", "43")  # not subscribed
    assert not subscriber(active=False).admits(PUBLISHED, None)


def test_a_national_subscriber_sees_every_province_and_the_unknown() -> None:
    s = subscriber(kind="research", provinces=())
    assert s.admits(CREDITED, "11") and s.admits(CREDITED, None)


def test_account_ids_are_pseudonymised_everywhere_consistently_and_per_subscriber() -> None:
    s, other = subscriber(), subscriber(key=b"o" * 32)
    shaped = s.shape({"user_id": USER, "credit_id": f"{USER}:res-1", "stars": [{"student_id": USER}], "hours": 2.0})
    p = pseudonym(s.key, USER)
    assert shaped == {"user_id": p, "credit_id": f"{p}:res-1", "stars": [{"student_id": p}], "hours": 2.0}
    assert USER not in str(shaped) and p != pseudonym(other.key, USER)
    assert s.shape_text(USER) == p
    assert subscriber(pseudonymise=False).shape({"user_id": USER}) == {"user_id": USER}


def test_excluded_fields_are_left_out() -> None:
    assert subscriber(exclude_fields=("hours",)).shape({"hours": 2, "year": 2026}) == {"year": 2026}


def test_a_subscribers_event_id_is_stable_and_its_own() -> None:
    a = feed_event_id(b"a" * 32, "evt-1")
    assert a == feed_event_id(b"a" * 32, "evt-1") != feed_event_id(b"b" * 32, "evt-1")
    assert a != feed_event_id(b"a" * 32, "evt-2") and len(a) == 36


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (("x", "system", ["cn.smartedu.identity.notification.requested.v1"], [], []), "body.event_types"),
        (("x", "system", [PUBLISHED], ["99"], []), "body.provinces"),
        (("x", "province", [PUBLISHED], ["43", "11"], []), "body.provinces"),
        (("x", "system", [PUBLISHED], [], ["a.b"]), "body.exclude_fields"),
        (("<script>", "system", [PUBLISHED], [], []), "body.name"),
    ],
)
def test_a_registration_asks_only_for_what_is_offered(args, field) -> None:
    with pytest.raises(Invalid) as refused:
        check_registration(*args)
    assert refused.value.field == field


def test_every_offered_type_is_a_declared_event() -> None:
    from common.contracts import EVENT_TYPES

    assert set(OFFERED) <= set(EVENT_TYPES)


def test_a_replay_is_bounded_and_within_the_subscription() -> None:
    now = datetime(2026, 12, 1, tzinfo=UTC)
    ok = dict(now=now, max_window_hours=24, max_records_limit=1000)
    s = subscriber()
    w = check_replay(s, [], None, now - timedelta(hours=2), now, 10, **ok)
    assert w.event_types == s.event_types
    bad = [
        (([CREDITED], "11", now - timedelta(hours=1), now, 10), "body.province"),
        ((["cn.smartedu.classgroups.class.created.v1"], None, now - timedelta(hours=1), now, 10), "body.event_types"),
        (([], None, now - timedelta(hours=25), now, 10), "body.since"),
        (([], None, now, now - timedelta(hours=1), 10), "body.until"),
        (([], None, now - timedelta(hours=1), now + timedelta(hours=1), 10), "body.until"),
        (([], None, now - timedelta(hours=1), now, 1001), "body.max_records"),
    ]
    for args, field in bad:
        with pytest.raises(Invalid) as refused:
            check_replay(s, *args, **ok)
        assert refused.value.field == field, args


def test_a_cursor_round_trips_and_a_forged_one_is_refused() -> None:
    assert decode_cursor(encode_cursor({0: 5, 2: 7})) == {0: 5, 2: 7}
    assert decode_cursor(None) == {}
    for forged in ("!!!", encode_cursor({0: -1}), "e30x", "W10"):
        with pytest.raises(Invalid):
            decode_cursor(forged)
