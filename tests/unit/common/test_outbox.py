"""The outbox relay's bookkeeping: which stored entries belong to a change, what becomes of its pointer, how
committed changes are batched and when the relay stops holding them in memory."""

from datetime import UTC, datetime, timedelta

import pytest

from common.contracts.catalog import ResourceWithdrawn
from common.outbox import POINTERS, Held, Outbox, RelayOptions, resolve, take

pytestmark = pytest.mark.unit
NOW = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)


def withdrawn(rid: str) -> ResourceWithdrawn:
    return ResourceWithdrawn(resource_id=rid, version=1, reason="过期", withdrawn_at=NOW, cursor=f"c-{rid}")


def outbox(**options) -> Outbox:
    box = Outbox({POINTERS: None}, publisher=None, service="test", options=RelayOptions(**options))
    box.source("accounts")
    return box


def pointer(docs: list[str], age: float = 0, pid: str = "P") -> dict:
    return {"_id": pid, "c": "accounts", "d": docs, "n": len(docs), "at": NOW - timedelta(seconds=age)}


def entry(eid: str, p: str = "P") -> dict:
    return {"id": eid, "type": ResourceWithdrawn.TYPE, "data": {}, "p": p}


def test_a_change_tags_its_entries_and_keeps_the_ids_it_is_given() -> None:
    change = outbox().change("accounts", {"u1": [withdrawn("a"), withdrawn("b")], "u2": []}, ids={"u1": ["e1", "e2"]})
    assert [e["id"] for e in change.entries("u1")] == ["e1", "e2"]
    assert {e["p"] for e in change.entries("u1")} == {change.id}
    assert change.entries("u1")[0]["data"]["resource_id"] == "a" and change.entries("u1")[0]["type"] == (
        ResourceWithdrawn.TYPE
    )
    assert change.entries("u2") == [] and list(change.events) == ["u1"]  # no events: not the outbox's business
    assert change.size == 2
    with pytest.raises(ValueError):
        outbox().change("accounts", {"u1": [withdrawn("a")]}, ids={"u1": ["e1", "e2"]})
    with pytest.raises(KeyError):
        outbox().change("revisions", {"u1": [withdrawn("a")]})


def test_only_written_documents_are_published_from_memory_and_memory_is_bounded() -> None:
    box = outbox(memory_events=3)
    first = box.change("accounts", {"u1": [withdrawn("a")], "u2": [withdrawn("b")]})
    first.announced = True  # (the pointer insert is the store's part, tested against FerretDB)
    first.commit(unwritten=["u2"])  # u2's _id held another writer's document
    second = box.change("accounts", {"u3": [withdrawn("c"), withdrawn("d"), withdrawn("e")]})
    second.announced = True
    second.commit()
    unannounced = box.change("accounts", {"u4": [withdrawn("f")]})
    unannounced.commit()  # never announced, so never written: nothing to relay
    held = list(box.relay.queue)
    assert [h.pointer for h in held] == [first.id, second.id]
    assert [e.resource_id for _, e in held[0].events] == ["a"] and held[0].size == 2
    assert held[1].events is None and held[1].size == 3  # over the memory bound: read back from the store
    assert box.relay.held_events == 1


def test_a_pointer_is_done_when_each_of_its_documents_carries_its_entries() -> None:
    docs = {
        "u1": {"_id": "u1", "outbox": [entry("old", p="EARLIER"), entry("e1"), entry("e2")]},
        "u2": {"_id": "u2", "outbox": [entry("e3")]},
    }
    found = resolve(pointer(["u1", "u2"]), docs, "outbox", NOW, orphan_after=3600)
    assert found.verdict == "done" and found.missing == []
    # an entry of another change (an in-place document keeps unpublished ones) is that change's to publish
    assert [i for i, _, _ in found.events] == ["e1", "e2", "e3"]
    assert found.events[2][2] is docs["u2"]  # the document, for decoders that rebuild the event from it


def test_documents_without_the_changes_entries_wait_then_are_given_up() -> None:
    docs = {
        "u1": {"_id": "u1", "outbox": [entry("e1")]},
        "u2": {"_id": "u2", "outbox": [entry("x", p="WINNER")]},  # another writer won this _id
    }
    young = resolve(pointer(["u1", "u2", "u3"], age=60), docs, "outbox", NOW, orphan_after=3600)
    assert young.verdict == "wait" and young.missing == ["u2", "u3"] and [i for i, _, _ in young.events] == ["e1"]
    old = resolve(pointer(["u1", "u2", "u3"], age=3600), docs, "outbox", NOW, orphan_after=3600)
    assert old.verdict == "orphan" and [i for i, _, _ in old.events] == ["e1"]
    naive = {**pointer(["u3"], age=10), "at": (NOW - timedelta(seconds=10)).replace(tzinfo=None)}
    assert resolve(naive, {}, "outbox", NOW, orphan_after=5).verdict == "orphan"  # stores may hand back naive times


def test_batches_take_whole_changes_from_the_head() -> None:
    queue = [Held("a", [], 300), Held("b", [], 150), Held("c", [], 100), Held("d", [], 900)]
    assert [h.pointer for h in take(queue, 500)] == ["a", "b"]
    assert [h.pointer for h in take(queue[3:], 500)] == ["d"]  # a change bigger than a batch goes alone
    assert take([], 500) == []


def test_an_event_that_no_longer_reads_back_is_left_in_the_store_not_dropped() -> None:
    box = outbox()

    def broken(doc, entry):
        raise ValueError("the contract changed")

    box.source("legacy", decode=broken)
    found = resolve({**pointer(["u1"]), "c": "legacy"}, {"u1": {"outbox": [entry("e1")]}}, "outbox", NOW, 3600)
    assert box.relay._decode({**pointer(["u1"]), "c": "legacy"}, found) is None  # the sweep skips it, keeps it
    good = {"u1": {"outbox": [{**entry("e1"), "data": withdrawn("a").model_dump(mode="json")}]}}
    decoded = box.relay._decode(pointer(["u1"]), resolve(pointer(["u1"]), good, "outbox", NOW, 3600))
    assert decoded == [("e1", withdrawn("a"))]
