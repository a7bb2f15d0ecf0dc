import hashlib
import io
from collections import Counter

import pytest

from catalog.domain.resource import ResourceContent, missing_for_publication
from catalog.domain.tree import TreeNode
from catalog.search import SearchIndex, analyze, query_terms
from deploy.local.demo_catalog import generate, write_jsonl

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def demo_rows():
    return list(generate())


def test_demo_catalog_has_the_real_platform_scale(demo_rows):
    nodes = Counter(r["node_type"] for r in demo_rows if r["type"] == "node")
    resources = [r for r in demo_rows if r["type"] == "resource"]
    assert nodes == {"textbook_version": 65, "volume": 565, "unit": nodes["unit"], "lesson": 19_508}
    assert len(resources) == 88_000
    assert len({r["external_id"] for r in resources}) == 88_000
    sections = Counter(r["content"]["section"] for r in resources)
    assert len(sections) == 12
    assert sections["textbooks"] == 2_004


def test_demo_catalog_is_deterministic():
    a, b = io.BytesIO(), io.BytesIO()
    write_jsonl(a)
    write_jsonl(b)
    assert hashlib.sha256(a.getvalue()).digest() == hashlib.sha256(b.getvalue()).digest()
    c = io.BytesIO()
    write_jsonl(c, seed=7)
    assert c.getvalue() != a.getvalue()


def test_demo_rows_are_valid_and_complete(demo_rows):
    for row in demo_rows[::97]:
        if row["type"] == "node":
            node = TreeNode(
                **{**{k: v for k, v in row.items() if k not in ("type", "node_type")}, "type": row["node_type"]}
            )
            assert node.validate_reference() == []
        else:
            c = ResourceContent(**row["content"])
            assert c.reference_errors() == []
            assert missing_for_publication(c) == [], row


def test_demo_titles_follow_the_textbook(demo_rows):
    titles = [r["content"]["title"] for r in demo_rows if r["type"] == "resource"]
    assert any(t.startswith("人教版 数学 五年级下册 第4单元 分数的意义和性质 第2课时") for t in titles)


def test_analysis_makes_unigrams_and_bigrams_of_chinese_and_words_of_the_rest():
    assert analyze("分数的加法") == ["分", "数", "的", "加", "法", "分数", "数的", "的加", "加法"]
    assert analyze("Unit 3 Hello!") == ["unit", "3", "hello"]
    assert query_terms("分数加减") == (["分", "数", "加", "减"], ["分数", "数加", "加减"])


def _snap(i, title, **over):
    return {
        "id": f"r{i}",
        "title": title,
        "summary": over.pop("summary", ""),
        "tags": over.pop("tags", []),
        "knowledge_points": over.pop("knowledge_points", []),
        "section": "course_teaching",
        "stages": ["primary"],
        "grades": [5],
        "subjects": ["math"],
        "kind": "video_lesson",
        "provider_kind": "central_agency",
        "provider_id": "cea-ncet",
        "published_at": f"2024-03-{i:02d}T08:00:00+00:00",
        **over,
    }


@pytest.fixture()
def small_index():
    idx = SearchIndex(heap_bytes=40_000_000)
    idx.upsert(
        [
            _snap(1, "人教版 数学 五年级下册 第6单元 分数的加法和减法 第1课时"),
            _snap(2, "人教版 数学 五年级下册 第4单元 分数的意义和性质 第2课时"),
            _snap(3, "小数加法和减法", grades=[4]),
            _snap(4, "加减混合运算 分段计数", kind="courseware"),
            _snap(5, "古诗词诵读", summary="分享诵读方法，加深理解，减轻负担", subjects=["chinese"]),
            _snap(
                6,
                "分数的加法和减法 练习课",
                section="after_school",
                kind="exercise_set",
                stages=["junior"],
                grades=[7],
                provider_kind="province",
                provider_id="prov-hn",
            ),
        ]
    )
    idx.commit()
    return idx


def test_chinese_query_without_spaces_finds_the_lesson_ranked_first(small_index):
    _total, hits = small_index.search("分数加减")
    ids = [h.id for h in hits]
    assert ids[0] in ("r1", "r6")
    assert set(ids[:2]) == {"r1", "r6"}
    assert "r2" not in ids  # has 分数 but neither 加 nor 减
    assert "r3" not in ids  # has 加减 but no 分数
    # a document with all four characters scattered ranks below those with the phrase parts in the title
    assert ids.index("r4") > ids.index("r1")
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_search_filters(small_index):
    assert [h.id for h in small_index.search("分数加减", {"section": "after_school"})[1]] == ["r6"]
    assert {h.id for h in small_index.search("分数", {"grade": "5", "kind": "video_lesson"})[1]} == {"r1", "r2"}
    assert [h.id for h in small_index.search("分数", {"provider": "prov-hn"})[1]] == ["r6"]
    assert small_index.search("分数", {"stage": "senior"})[0] == 0


def test_updates_and_deletes_are_visible_after_commit(small_index):
    small_index.upsert([_snap(2, "圆的面积")])
    small_index.delete(["r1"])
    small_index.commit()
    assert {h.id for h in small_index.search("分数")[1]} == {"r4", "r6"}
    assert [h.id for h in small_index.search("圆的面积")[1]] == ["r2"]
    assert small_index.num_docs() == 5


def test_fallback_when_no_resource_holds_every_character(small_index):
    total, hits = small_index.search("分数乘法")
    assert total > 0 and hits[0].id in ("r1", "r2", "r6")


def test_lists_order_by_newest_or_hottest_with_facet_counts(small_index):
    total, ids = small_index.list({"stage": "primary"}, "new", limit=3)
    assert total == 5 and ids == ["r5", "r4", "r3"]
    assert small_index.list({"stage": "primary"}, "new", limit=3, offset=3)[1] == ["r2", "r1"]
    small_index.upsert([_snap(2, "人教版 数学 五年级下册 第4单元 分数的意义和性质 第2课时")], popularity={"r2": 99.0})
    small_index.commit()
    assert small_index.list({}, "hot", limit=1)[1] == ["r2"]
    facets = small_index.facets({"stage": "primary"})
    assert facets["kind"] == {"video_lesson": 4, "courseware": 1}
    assert facets["grade"] == {"5": 4, "4": 1}
    assert small_index.facets({}, text="分数加减")["section"] == {"course_teaching": 2, "after_school": 1}
