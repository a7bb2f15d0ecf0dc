"""The list cursor: whatever a client sends, it is an offset inside the window or a 422 problem."""

import base64

import orjson
import pytest

from catalog.paging import decode_cursor, encode_cursor, next_cursor
from catalog.search import MAX_OFFSET, SearchIndex
from common.problems import Problem

pytestmark = pytest.mark.unit


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def test_a_cursor_round_trips() -> None:
    assert decode_cursor(None) == 0 and decode_cursor("") == 0
    for offset in (0, 20, MAX_OFFSET):
        assert decode_cursor(encode_cursor(offset)) == offset


@pytest.mark.parametrize(
    "cursor",
    [
        b64(b'{"o": 10000000000}'),  # aborted the process (tantivy allocated ~480 GB)
        b64(b'{"o": -1}'),  # a 500 from inside tantivy
        b64(orjson.dumps({"o": MAX_OFFSET + 1})),
        b64(b'{"o": 100000000000000000000000000000000000000}'),
        b64(b'{"o": true}'),
        b64(b'{"o": 1.5}'),
        b64(b'{"o": "20"}'),
        b64(b'{"o": null}'),
        b64(b'{"o": 20, "x": 1}'),
        b64(b"{}"),
        b64(b"[20]"),
        b64(b"20"),
        b64(b"\xff\xfe not json"),
        "not*base64!",
        "é",
        "a",  # base64 of nothing complete
    ],
)
def test_anything_but_a_cursor_is_a_422_problem(cursor: str) -> None:
    with pytest.raises(Problem) as caught:
        decode_cursor(cursor)
    assert caught.value.status == 422 and caught.value.code == "invalid-cursor"
    assert caught.value.errors and all(e["field"].startswith("query.cursor") for e in caught.value.errors)


def test_no_next_cursor_beyond_the_window() -> None:
    assert decode_cursor(next_cursor(0, 20, 100)) == 20
    assert next_cursor(80, 20, 100) is None  # the end of the results
    assert next_cursor(MAX_OFFSET - 20, 20, 10**6) == encode_cursor(MAX_OFFSET)
    assert next_cursor(MAX_OFFSET, 20, 10**6) is None  # the end of the window a cursor may reach


def test_the_index_refuses_a_window_out_of_bounds_instead_of_handing_it_to_tantivy() -> None:
    index = SearchIndex(heap_bytes=50_000_000)
    assert index.list({}, limit=20, offset=MAX_OFFSET) == (0, [])
    for limit, offset in ((20, 10_000_000_000), (20, -1), (0, 0), (10**9, 0)):
        with pytest.raises(ValueError):
            index.list({}, limit=limit, offset=offset)
        with pytest.raises(ValueError):
            index.search("分数", limit=limit, offset=offset)
