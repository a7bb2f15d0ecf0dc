"""The change feed's positions (catalog.feed): what a page returns and where ``next`` may move."""

import pytest

from catalog.feed import ChangeFeed

pytestmark = pytest.mark.unit


def test_next_stops_at_the_applied_offsets_and_a_later_record_is_served_after_it():
    feed = ChangeFeed(2)
    feed.record("a", 0, 0)
    feed.record("b", 1, 0)
    feed.record("c", 0, 1)
    items, following = feed.page([0, 0], 10)
    assert [rid for rid, _ in items] == ["a", "b", "c"] and following == [2, 1]
    # nothing new: the position stays; a record applied later is always above it
    assert feed.page(following, 10) == ([], [2, 1])
    feed.record("a", 0, 2)  # a moves to its latest record
    items, following = feed.page(following, 10)
    assert [rid for rid, _ in items] == ["a"] and following == [3, 1]
    assert [rid for rid, _ in feed.page([0, 0], 10)[0]] == ["b", "c", "a"]  # once, at its latest record


def test_a_page_cut_short_by_the_limit_resumes_where_it_stopped_in_every_partition():
    feed = ChangeFeed(3)
    for offset in range(5):
        for partition in range(3):
            feed.record(f"r{partition}-{offset}", partition, offset)
    seen, position = [], [0, 0, 0]
    while True:
        items, position = feed.page(position, 4)
        if not items:
            break
        seen += [rid for rid, _ in items]
    assert sorted(seen) == sorted(f"r{p}-{o}" for p in range(3) for o in range(5)) and len(seen) == 15
    assert position == [5, 5, 5]
    # resuming from an item's own cursor skips nothing after it
    items, _ = feed.page([0, 0, 0], 15)
    rest, _ = feed.page(items[6][1], 15)
    assert [rid for rid, _ in rest] == [rid for rid, _ in items[7:]]


def test_a_redelivered_or_older_record_changes_nothing_and_stale_rows_are_compacted():
    feed = ChangeFeed(1)
    for offset in range(3000):
        feed.record("hot", 0, offset)  # one resource changed over and over
    feed.record("hot", 0, 5)
    items, following = feed.page([0], 10)
    assert [(rid, resume) for rid, resume in items] == [("hot", [3000])] and following == [3000]
    assert len(feed._rows[0]) <= 1025


def test_a_watermark_moves_past_records_that_are_not_resource_changes():
    feed = ChangeFeed(1)
    feed.record("a", 0, 0)
    feed.passed(0, 4)
    feed.caught_up({0: 3})
    assert feed.page([0], 10)[1] == [5]


def test_records_loaded_out_of_offset_order_are_served_in_it():
    feed = ChangeFeed(1)
    for rid, offset in (("c", 7), ("a", 2), ("b", 5)):  # the start-up load goes by key, not by offset
        feed.record(rid, 0, offset)
    feed.caught_up({0: 8})
    items, following = feed.page([3], 10)
    assert [rid for rid, _ in items] == ["b", "c"] and following == [8]
