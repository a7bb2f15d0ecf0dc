"""Group commit's choice of the next batch: arrival order, a bounded size, never one ``_id`` twice (the outbox
change keeps one event list per document), and nothing for a caller who stopped waiting."""

import asyncio
from collections import deque

import pytest

from common.group_insert import Pending, take

pytestmark = pytest.mark.unit


def pending(loop: asyncio.AbstractEventLoop, doc_id: str) -> Pending:
    return Pending({"_id": doc_id}, [], None, loop.create_future())


def ids(batch) -> list[str]:
    return [p.doc["_id"] for p in batch]


def test_a_batch_is_the_queue_head_in_arrival_order_up_to_the_limit() -> None:
    loop = asyncio.new_event_loop()
    queue = deque(pending(loop, i) for i in "abcde")
    assert ids(take(queue, 3)) == ["a", "b", "c"]
    assert ids(queue) == ["d", "e"]
    loop.close()


def test_a_repeated_id_waits_in_its_place_for_a_later_batch() -> None:
    loop = asyncio.new_event_loop()
    queue = deque(pending(loop, i) for i in ["a", "b", "a", "c", "a", "d"])
    assert ids(take(queue, 3)) == ["a", "b", "c"]
    assert ids(queue) == ["a", "a", "d"]  # the repeats first, as they came
    assert ids(take(queue, 3)) == ["a", "d"]
    assert ids(take(queue, 3)) == ["a"]
    assert not queue
    loop.close()


def test_a_caller_who_stopped_waiting_is_not_written() -> None:
    loop = asyncio.new_event_loop()
    queue = deque(pending(loop, i) for i in "abc")
    queue[1].answer.cancel()  # its request was cancelled (the client went away) before its batch
    assert ids(take(queue, 10)) == ["a", "c"]
    loop.close()
