import pytest

from catalog.readmodel import ReadModel
from catalog.snapshot import TopicState
from tests.unit.catalog.test_demo_and_search import _snap

pytestmark = pytest.mark.unit


def snapshot(i: int, title: str, version: int = 1, lesson: str = "l1") -> dict:
    return {
        **_snap(i, title),
        "external_id": f"e{i}",
        "version": version,
        "lesson": {"lesson_id": lesson, "position": i},
    }


def cursor(second: int, rid: str) -> str:
    return f"{second:017d}-{rid}"


def feed_of(read: ReadModel) -> list[str]:
    page, _ = read.changes_page([0] * 12, 100)
    return [e.id for e, _ in page]


def test_a_start_up_load_then_the_same_events_again_changes_nothing():
    read = ReadModel(30_000_000)
    loaded = read.load_public(
        {
            "r1": TopicState(cursor(20, "r1"), snapshot(1, "分数的加法和减法"), 1, (0, 7)),
            "r2": TopicState(cursor(10, "r2"), snapshot(2, "勾股定理"), 1, (0, 3)),
            "r3": TopicState(cursor(30, "r3"), None, 2, (1, 0)),
        }
    )
    read.index.upsert(loaded, new=True)
    read.index.commit()
    assert [s["id"] for s in loaded] == ["r1", "r2"]
    assert feed_of(read) == ["r3", "r2", "r1"]  # by offset, then partition
    assert read.lesson_resources == {"l1": {"r1": 1, "r2": 2}}
    assert read.entries["r3"].public is None and read.entries["r3"].withdrawn_version == 2

    # the live consumer then delivers records the load already held, or older ones: all ignored
    assert not read.apply_published(snapshot(1, "分数的加法和减法"), cursor(20, "r1"))
    assert not read.apply_published(snapshot(2, "旧标题"), cursor(5, "r2"))
    assert not read.apply_withdrawn("r3", 2, cursor(30, "r3"))
    assert not read.load_public({"r1": TopicState(cursor(20, "r1"), snapshot(1, "旧"), 1)})
    assert feed_of(read) == ["r3", "r2", "r1"] and read.index.num_docs() == 2

    # a newer change applies and replaces its document; the feed moves only with its record on the topic
    assert read.apply_withdrawn("r1", 1, cursor(40, "r1"))
    read.index.commit()
    assert feed_of(read) == ["r3", "r2", "r1"]
    assert not read.apply_withdrawn("r2", 1, cursor(9, "r2"), at=(0, 9))  # an older state, a newer record
    assert feed_of(read) == ["r3", "r1", "r2"]
    assert read.index.num_docs() == 1 and read.lesson_resources == {"l1": {"r2": 2}}


def test_a_malformed_record_on_the_topic_is_skipped_not_fatal_at_start_up() -> None:
    from catalog.snapshot import _cursor

    assert _cursor(b'{"resource":{"id":"r1"},"cursor":"c-2026"}') == b"c-2026"
    assert _cursor(b'{"resource": "not a resource"}') is None  # what a broken producer once wrote
    assert _cursor(b"not json") is None


def test_a_resource_that_moves_leaves_its_old_lesson_whichever_path_moved_it() -> None:
    read = ReadModel(30_000_000)
    read.apply_published(snapshot(1, "分数的加法和减法", lesson="l1"), cursor(10, "r1"))
    read.apply_published(snapshot(1, "分数的加法和减法", version=2, lesson="l2"), cursor(20, "r1"))
    assert read.lesson_resources == {"l1": {}, "l2": {"r1": 1}}
    read.load_public({"r1": TopicState(cursor(30, "r1"), snapshot(1, "分数", version=3, lesson="l3"), 3)})
    assert read.lesson_resources == {"l1": {}, "l2": {}, "l3": {"r1": 1}}
    read.apply_withdrawn("r1", 3, cursor(40, "r1"))
    assert read.lesson_resources == {"l1": {}, "l2": {}, "l3": {}}


def test_tree_nodes_are_linked_to_their_children_in_order_whatever_order_they_arrive_in() -> None:
    from catalog.domain.tree import TreeNode

    read = ReadModel(30_000_000)
    common = {"stage": "primary", "subject": "math", "grade": 5}
    read.add_node(TreeNode(id="tv/v/u/l2", type="lesson", parent_id="tv/v/u", title="第二课", order=2, **common))
    read.add_node(TreeNode(id="tv/v/u/l1", type="lesson", parent_id="tv/v/u", title="第一课", order=1, **common))
    read.add_node(TreeNode(id="tv/v/u", type="unit", parent_id="tv/v", title="第四单元", **common))
    read.link_orphans()
    assert read.nodes["tv/v/u"].children == ["tv/v/u/l1", "tv/v/u/l2"]
    assert "children" not in read.nodes["tv/v/u"].public()  # the public form is the node as imported
    renamed = TreeNode(id="tv/v/u", type="unit", parent_id="tv/v", title="第四单元 分数", **common)
    read.add_node(renamed)  # a re-import that renames it keeps its children
    assert read.nodes["tv/v/u"].children == ["tv/v/u/l1", "tv/v/u/l2"]
