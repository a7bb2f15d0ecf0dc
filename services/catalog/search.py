"""Full-text search over the public catalog with tantivy, for Chinese written without spaces.

Analysis: runs of CJK characters become their unigrams *and* bigrams; other runs become lower-cased words.
The text is analysed here and handed to tantivy as whitespace-separated tokens (``whitespace`` tokenizer),
so index and query are analysed by the same function.

Why not a word segmenter (jieba): "分数加减" segments to 分数/加减 while the lesson says 分数的加法和减法
(分数/的/加法/和/减法), so no word matches "加减". With characters, every query character must occur in the
resource (recall for abbreviations like 加减); query bigrams that also occur in the text (分数) and the query's
characters appearing in the title in order (a sloppy phrase over title unigrams) rank the closer phrasings
first; titles and knowledge points weigh more than summaries.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import tantivy

_CJK = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_RUNS = re.compile(rf"[{_CJK}]+|[^\W_{_CJK}]+", re.UNICODE)
_IS_CJK = re.compile(rf"[{_CJK}]")

FIELD_WEIGHTS = {"title": 3.0, "knowledge_points": 2.5, "tags": 1.5, "summary": 1.0}
FILTER_FIELDS = ("section", "stage", "grade", "subject", "kind", "provider")
# Deepest hit a list or a search reaches (Elasticsearch's default result window). tantivy allocates its collector
# for ``offset + limit`` hits before it looks at the index: an offset of 10^10 aborted the process (≈ 480 GB), so
# every caller's window is checked here as well as at the API. Deeper reading is what the change feed is for.
MAX_OFFSET = 10_000
MAX_LIMIT = 1_000


def _check_window(limit: int, offset: int) -> None:
    if not (0 <= offset <= MAX_OFFSET and 1 <= limit <= MAX_LIMIT):
        raise ValueError(f"result window out of bounds: offset {offset}, limit {limit}")


def analyze(text: str) -> list[str]:
    """Index tokens: CJK unigrams and bigrams, other words lower-cased."""
    tokens: list[str] = []
    for run in _RUNS.findall(text):
        if _IS_CJK.match(run):
            tokens.extend(run)
            tokens.extend(run[i : i + 2] for i in range(len(run) - 1))
        else:
            tokens.append(run.lower())
    return tokens


def query_terms(text: str) -> tuple[list[str], list[str]]:
    """(required terms, ranking-only terms): every CJK character and word is required, bigrams rank."""
    required: list[str] = []
    ranking: list[str] = []
    for run in _RUNS.findall(text):
        if _IS_CJK.match(run):
            required.extend(dict.fromkeys(run))
            ranking.extend(dict.fromkeys(run[i : i + 2] for i in range(len(run) - 1)))
        else:
            required.append(run.lower())
    return list(dict.fromkeys(required)), ranking


def _micros(value: Any) -> int:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return int(value.timestamp() * 1_000_000)


@dataclass(frozen=True)
class SearchHit:
    id: str
    score: float


def _schema() -> tantivy.Schema:
    b = tantivy.SchemaBuilder()
    b.add_text_field("id", stored=True, tokenizer_name="raw")
    for name in FIELD_WEIGHTS:
        # Titles keep positions: the query's characters in order, close together, rank first.
        b.add_text_field(name, tokenizer_name="whitespace", index_option="position" if name == "title" else "freq")
    for name in FILTER_FIELDS:
        # Fast fields: the same index answers filtered lists and their facet counts (terms aggregations).
        b.add_text_field(name, tokenizer_name="raw", index_option="basic", fast=True)
    b.add_integer_field("published_us", fast=True, indexed=False)
    b.add_float_field("popularity", fast=True, indexed=False)
    return b.build()


def _filter_values(snapshot: dict[str, Any]) -> dict[str, list[str]]:
    return {
        "section": [snapshot["section"]],
        "stage": list(snapshot.get("stages") or []),
        "grade": [str(g) for g in snapshot.get("grades") or []],
        "subject": list(snapshot.get("subjects") or []),
        "kind": [snapshot["kind"]],
        "provider": [snapshot["provider_kind"], snapshot["provider_id"]],
    }


class SearchIndex:
    """An in-RAM tantivy index of published snapshots (as JSON-mode dicts), rebuilt at start and kept current
    from events. Writes are batched: call :meth:`commit` after a batch; searches see committed state."""

    def __init__(self, heap_bytes: int = 128_000_000) -> None:
        self.schema = _schema()
        self.index = tantivy.Index(self.schema)
        self._writer = self.index.writer(heap_bytes, 2)
        self._lock = threading.Lock()
        self._dirty = False

    def upsert(
        self, snapshots: Iterable[dict[str, Any]], popularity: dict[str, float] | None = None, *, new: bool = False
    ) -> None:
        """Add or replace documents; ``new=True`` when none of them can be in the index yet (a start-up load)."""
        popularity = popularity or {}
        with self._lock:
            for s in snapshots:
                if not new:
                    self._writer.delete_documents_by_term("id", s["id"])
                doc = tantivy.Document()
                doc.add_text("id", s["id"])
                doc.add_text("title", " ".join(analyze(s["title"])))
                doc.add_text("summary", " ".join(analyze(s.get("summary") or "")))
                doc.add_text("tags", " ".join(analyze(" ".join(s.get("tags") or []))))
                doc.add_text("knowledge_points", " ".join(analyze(" ".join(s.get("knowledge_points") or []))))
                for field, values in _filter_values(s).items():
                    for value in values:
                        doc.add_text(field, value)
                doc.add_integer("published_us", _micros(s["published_at"]))
                doc.add_float("popularity", float(popularity.get(s["id"], 0.0)))
                self._writer.add_document(doc)
            self._dirty = True

    def delete(self, ids: Iterable[str]) -> None:
        with self._lock:
            for i in ids:
                self._writer.delete_documents_by_term("id", i)
            self._dirty = True

    def commit(self) -> None:
        with self._lock:
            if self._dirty:
                self._writer.commit()
                self._dirty = False
        self.index.reload()

    def num_docs(self) -> int:
        return self.index.searcher().num_docs

    def _any_field(self, term: str, boost: float = 1.0) -> tantivy.Query:
        return tantivy.Query.boolean_query(
            [
                (
                    tantivy.Occur.Should,
                    tantivy.Query.boost_query(tantivy.Query.term_query(self.schema, f, term), w * boost),
                )
                for f, w in FIELD_WEIGHTS.items()
            ]
        )

    def build_query(self, text: str, filters: dict[str, str] | None = None, strict: bool = True) -> tantivy.Query:
        required, ranking = query_terms(text)
        clauses: list[tuple[tantivy.Occur, tantivy.Query]] = []
        for term in required:
            clauses.append((tantivy.Occur.Must if strict else tantivy.Occur.Should, self._any_field(term)))
        for term in ranking:
            clauses.append((tantivy.Occur.Should, self._any_field(term, 2.0)))
        chars = [t for t in required if _IS_CJK.match(t)]
        if len(chars) > 1:
            # "分数加减" → 分数的加法和减法: the characters appear in the title in query order, with gaps.
            in_order = tantivy.Query.phrase_query(self.schema, "title", chars, slop=3 * len(chars))
            # A constant bonus: BM25 length normalisation must not let a short title outrank the match.
            clauses.append((tantivy.Occur.Should, tantivy.Query.const_score_query(in_order, 10.0)))
        if not clauses:
            clauses.append((tantivy.Occur.Must, tantivy.Query.all_query()))
        for field, value in (filters or {}).items():
            if value is not None:
                clauses.append(
                    (
                        tantivy.Occur.Must,
                        tantivy.Query.const_score_query(tantivy.Query.term_query(self.schema, field, str(value)), 0.0),
                    )
                )
        return tantivy.Query.boolean_query(clauses)

    def _filters_query(self, filters: dict[str, str | None]) -> tantivy.Query:
        clauses = [
            (tantivy.Occur.Must, tantivy.Query.term_query(self.schema, f, str(v)))
            for f, v in filters.items()
            if v is not None
        ]
        return tantivy.Query.boolean_query(clauses) if clauses else tantivy.Query.all_query()

    def list(
        self, filters: dict[str, str | None], order: str = "new", limit: int = 20, offset: int = 0
    ) -> tuple[int, list[str]]:
        """Filtered ids, newest (``new``) or most popular (``hot``) first."""
        _check_window(limit, offset)
        searcher = self.index.searcher()
        field = "popularity" if order == "hot" else "published_us"
        result = searcher.search(
            self._filters_query(filters), limit=limit, offset=offset, count=True, order_by_field=field
        )
        return result.count, [searcher.doc(addr)["id"][0] for _, addr in result.hits]

    def facets(self, filters: dict[str, str | None], text: str | None = None) -> dict[str, dict[str, int]]:
        """Counts per value of every filter field among the matching resources."""
        query = self.build_query(text, filters) if text else self._filters_query(filters)
        aggs = {f: {"terms": {"field": f, "size": 200}} for f in FILTER_FIELDS}
        result = self.index.searcher().aggregate(query, aggs)
        return {f: {b["key"]: b["doc_count"] for b in result[f]["buckets"]} for f in FILTER_FIELDS}

    def search(
        self, text: str, filters: dict[str, str] | None = None, limit: int = 20, offset: int = 0
    ) -> tuple[int, list[SearchHit]]:
        """(total matches, hits best first). When no resource contains every query character, falls back
        to resources containing most of them."""
        _check_window(limit, offset)
        searcher = self.index.searcher()
        result = searcher.search(self.build_query(text, filters), limit=limit, offset=offset, count=True)
        if result.count == 0 and len(query_terms(text)[0]) > 1:
            result = searcher.search(
                self.build_query(text, filters, strict=False), limit=limit, offset=offset, count=True
            )
        hits = [SearchHit(searcher.doc(addr)["id"][0], score) for score, addr in result.hits]
        return result.count, hits
