"""The aggregator's one-pass batch readers (``domain.partition.ingest_python`` and the same reader compiled with C
types, ``domain._reader.ingest``) decide exactly as the per-record calls they replaced: the CloudEvents headers read
by ``ce_id_and_type``, the de-dup window's ``seen``, the day's sketches' ``add`` and the queue's ``append``.
Exactness after a crash rests on those decisions (the SIGKILL tests check the end result; this checks every record's
fate, every sketch's bytes and the malformed ones, with their dead letters' reasons)."""

import random
from datetime import UTC, datetime

import orjson
import pytest

from common.contracts.viewstats import ViewRecorded
from common.kafka import ce_id_and_type
from deploy.local.traffic import TrafficGenerator
from viewstats.domain import partition
from viewstats.domain.beacon import parse_beacon, parse_time_ms
from viewstats.domain.counters import DedupWindow, local_minute, minute_label
from viewstats.domain.partition import PartitionState, ingest_python
from viewstats.wire import view_record

pytestmark = pytest.mark.unit

try:
    from viewstats.domain._reader import ingest as compiled_ingest
except ImportError:  # not built: the test says so instead of passing without it
    compiled_ingest = None

NOW = int(datetime(2026, 11, 23, 2, 30, tzinfo=UTC).timestamp() * 1000)
WINDOW = 50


def reference_ingest(state: PartitionState, records: list) -> tuple[int, int, int]:
    """The per-record reader as it was before the one-pass rewrite (one call per concern per record)."""
    queued = duplicates = malformed = 0
    for offset, headers, value, record in records:
        try:
            event_id, event_type = ce_id_and_type(headers)
            if event_id is None or event_type != ViewRecorded.TYPE:
                raise ValueError("not a view")
            d = orjson.loads(value)
            minute = local_minute(parse_time_ms(d["viewed_at"]))
            if not isinstance(d["viewed_at"], str):
                raise TypeError("viewed_at")
            key = (minute, d["resource_id"], d["section"], d["province"] or "none", d["country"])
            visitor = d["visitor_id"]
            # the contract's types (``ViewRecorded``): a body naming a number or null where a string belongs is
            # malformed, not counted under a key of another type
            if not all(isinstance(x, str) for x in (*key[1:3], key[4], visitor)) or not isinstance(
                d["province"], str | None
            ):
                raise TypeError("a field of another type")
        except Exception:
            if offset >= state.warm_until:
                malformed += 1
                state.malformed.append((record, "malformed"))
            continue
        duplicate = state.dedup.seen(event_id, offset)
        state.uniques.day(minute_label(minute)[2]).add(visitor, key[1], d["province"])
        if offset < state.warm_until:
            continue
        if duplicate:
            duplicates += 1
            continue
        state.pending.append(offset, key)
        queued += 1
    if records:
        state.position = records[-1][0]
    return queued, duplicates, malformed


def odd_records(rng: random.Random, views: list) -> list[tuple]:
    """Rows as the clients give them (offset, headers, value, record), with retries inside and outside the window,
    views of two days, times the collector would not write, and every kind of malformed record."""
    rows: list[tuple] = []
    sent: list[tuple] = []
    for v in views:
        _key, value, headers = view_record(v)
        r = rng.random()
        if r < 0.05 and sent:  # a retry: the same event id (and body), soon or long after
            headers, value = rng.choice(sent[-WINDOW:] if rng.random() < 0.7 else sent)
        elif r < 0.08:
            d = orjson.loads(value)
            d["viewed_at"] = rng.choice(
                [
                    "2026-11-23T02:29:59+00:00",  # valid RFC 3339, not the collector's form
                    "2026-11-22T15:59:59.5Z",  # yesterday (Beijing time), short milliseconds
                    "2026-11-23T02:29:59.12xZ",  # malformed
                    1763864999000,  # a number, not a string: malformed
                    "2026-11-23T02:29:59.000",  # no offset: malformed
                ]
            )
            value = orjson.dumps(d)
        elif r < 0.11:
            bad = rng.randrange(8)
            if bad == 0:
                headers = [h for h in headers if h[0] != "ce_id"]
            elif bad == 1:
                headers = [(n, b"\xff\xfe" if n == "ce_id" else b) for n, b in headers]
            elif bad == 2:
                headers = [(n, b"x.other.v1" if n == "ce_type" else b) for n, b in headers]
            elif bad == 3:
                headers = [(n, b"\xff" if n == "ce_type" else b) for n, b in headers]
            elif bad == 4:
                value = b"{not json"
            elif bad == 5:
                headers = None
            elif bad == 6:
                value = orjson.dumps({k: x for k, x in orjson.loads(value).items() if k != "section"})
            else:  # a field of another type than the contract's
                field, odd = rng.choice([("resource_id", 7), ("province", 37), ("visitor_id", None), ("country", [])])
                value = orjson.dumps(orjson.loads(value) | {field: odd})
        elif r < 0.16:  # valid bodies not written as the collector writes them, and bodies that nearly are
            value = odd_body(rng, orjson.loads(value), value)
        elif r < 0.18 and sent:  # repeated headers: the last one counts (Kafka's lastHeader())
            earlier = dict(rng.choice(sent[-WINDOW:])[0] or ()).get("ce_id", b"gone")
            headers = [("ce_id", earlier), *headers]  # its own id comes last: not a retry of the earlier one
            if rng.random() < 0.5:  # an earlier id comes last: a retry of it
                headers = [*headers, ("ce_id", earlier)]
        sent.append((headers, value))
        offset = len(rows)
        rows.append((offset, tuple(headers) if headers is not None and rng.random() < 0.5 else headers, value, offset))
    return rows


def odd_body(rng: random.Random, d: dict, value: bytes) -> bytes:
    """A body the compiled reader must not read as the collector's form (msgspec decides it), or one that is the
    collector's form with values at its edges."""
    odd = rng.randrange(14)
    if odd == 0:  # the same JSON, keys in another order
        return orjson.dumps(dict(reversed(list(d.items()))))
    if odd == 1:  # spaces
        return value.replace(b",", b", ").replace(b":", b": ")
    if odd == 2:  # an escape msgspec reads as the same character
        return value.replace(b'"section":"', b'"section":"\\u0063', 1)
    if odd == 3:  # non-ASCII ids: UTF-8 in the body, and a Latin-1 character in the time's second
        return orjson.dumps(d | {"resource_id": d["resource_id"] + "é", "visitor_id": "访客" + d["visitor_id"]})
    if odd == 4:
        return orjson.dumps(d | {"viewed_at": d["viewed_at"][:17] + "é" + d["viewed_at"][18:]})
    if odd == 5:  # unknown province, written as null or as an empty string; an empty visitor and section
        return orjson.dumps(d | {"province": rng.choice([None, ""])})
    if odd == 6:
        return orjson.dumps(d | {"visitor_id": "", "section": ""})
    if odd == 7:  # something after the object, or the object cut short
        return rng.choice([value + b" ", value + b"x", value[:-1], value[:-2] + b"}", value + b"}"])
    if odd == 8:  # a control character or DEL inside a string (the first is not JSON)
        return value.replace(b'"country":"', b'"country":"\x01' if rng.random() < 0.5 else b'"country":"\x7f', 1)
    if odd == 9:  # client of another type (not read), a repeated key (msgspec: the last wins)
        return value.replace(b'"client":"', b'"client":7,"x":"', 1)
    if odd == 10:
        return value[:-1] + b',"resource_id":"' + b"res-last" + b'"}'
    if odd == 11:  # province null spelled otherwise, a number
        return (
            value.replace(b'"province":', b'"province":nul', 1)
            if rng.random() < 0.5
            else value.replace(b'"province":"', b'"province":1', 1)
        )
    if odd == 12:  # a tombstone, and a non-bytes value
        return rng.choice([None, bytearray(value), memoryview(value)])
    return orjson.dumps(d | {"viewed_at": d["viewed_at"].replace("Z", "+00:00")})  # the same time, otherwise


READERS = {"python": ingest_python, "compiled": compiled_ingest}


def test_the_compiled_reader_is_built_and_used():
    """``make python`` builds it: a pod or a checkout without it runs the pure-Python reader (slower)."""
    assert compiled_ingest is not None, "services/viewstats/domain/_reader.so missing: run `make python`"
    assert partition.ingest is compiled_ingest and partition.READER == "compiled"


@pytest.mark.parametrize("reader", ["python", "compiled"])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_one_pass_ingest_decides_every_record_as_the_per_record_calls(seed, reader):
    ingest = READERS[reader]
    if ingest is None:
        pytest.fail("the compiled reader is not built: run `make python`")
    rng = random.Random(seed)
    gen = TrafficGenerator(resources=300, visitors=2_000, duplicate_share=0.0, seed=seed)
    items = gen.day(datetime(2026, 11, 23, tzinfo=UTC).date(), 3_000)
    views = [parse_beacon(item | {"time": NOW - 400_000 + i * 100}, NOW) for i, item in enumerate(items)]
    rows = odd_records(rng, views)
    warm_until = 400  # the first 400 were committed by a previous owner: they only refill the window
    one, ref, py = (PartitionState(7, warm_until, DedupWindow(WINDOW)) for _ in range(3))
    totals = {"one": [0, 0, 0], "ref": [0, 0, 0], "py": [0, 0, 0]}
    at = 0
    while at < len(rows):
        batch = rows[at : at + rng.randrange(1, 400)]
        at += len(batch)
        for name, state, read in (("one", one, ingest), ("ref", ref, reference_ingest), ("py", py, ingest_python)):
            totals[name] = [a + b for a, b in zip(totals[name], read(state, batch), strict=True)]
    assert totals["one"] == totals["ref"]
    queued, duplicates, malformed = totals["one"]
    assert queued > 2_000 and duplicates > 50 and malformed > 50  # every path was taken
    assert one.pending.records(len(one.pending)) == ref.pending.records(len(ref.pending))
    assert [r for r, _ in one.malformed] == [r for r, _ in ref.malformed]
    assert one.malformed == py.malformed  # the dead letters' reasons too
    assert one.position == ref.position == len(rows) - 1
    groups = ref.uniques.take_dirty()
    assert one.uniques.take_dirty() == groups and len({day for day, _ in groups}) == 2
    assert one.uniques.serialize(groups) == ref.uniques.serialize(groups)  # the same updates, byte for byte


@pytest.mark.parametrize("reader", ["python", "compiled"])
def test_a_malformed_view_names_its_headers_in_the_dead_letter_reason(reader):
    ingest = READERS[reader]
    if ingest is None:
        pytest.fail("the compiled reader is not built: run `make python`")
    headers = [("ce_id", b"e-1"), ("ce_type", b"\xffbad")]
    state = PartitionState(0, 0, DedupWindow(WINDOW))
    assert ingest(state, [(0, headers, b"{}", "rec")]) == (0, 0, 1)
    (record, reason), *_ = state.malformed
    assert record == "rec" and "ce_id 'e-1'" in reason and f"not a {ViewRecorded.TYPE} CloudEvent" in reason


# --- record batches read in place (the aggregator's consumer hands ``ingest`` whole batches) ---------------------
try:
    from viewstats.domain._reader import split_batches
except ImportError:
    split_batches = None


def message_set(rows: list[tuple], codec: int, rng: random.Random) -> bytes:
    """The rows as a broker hands them out: v2 record batches of 1–199 records (aiokafka's builder, so the layout is
    a Kafka client's), back to back; the timestamp and key of each record derived from its offset."""
    from aiokafka.record.default_records import DefaultRecordBatchBuilder

    out, at = bytearray(), 0
    while at < len(rows):
        chunk = rows[at : at + rng.randrange(1, 200)]
        at += len(chunk)
        base = chunk[0][0]
        builder = DefaultRecordBatchBuilder(2, codec, 0, -1, -1, -1, 1 << 30)
        for offset, headers, value, _ in chunk:
            builder.append(offset - base, timestamp=NOW + offset, key=b"k%d" % offset, value=value, headers=headers)
        batch = builder.build()
        batch[0:8] = base.to_bytes(8, "big")
        out += batch
    return bytes(out)


def kafka_rows(seed: int) -> list[tuple]:
    """:func:`odd_records` as Kafka can carry them: bytes or null values, headers a list (none: an empty one)."""
    rng = random.Random(seed)
    gen = TrafficGenerator(resources=300, visitors=2_000, duplicate_share=0.0, seed=seed)
    items = gen.day(datetime(2026, 11, 23, tzinfo=UTC).date(), 3_000)
    views = [parse_beacon(item | {"time": NOW - 400_000 + i * 100}, NOW) for i, item in enumerate(items)]
    return [
        (offset, list(headers or ()), value if value is None else bytes(value), offset)
        for offset, headers, value, _ in odd_records(rng, views)
    ]


@pytest.mark.parametrize("codec", [0, 1, 3, 4], ids=["none", "gzip", "lz4", "zstd"])
@pytest.mark.parametrize("seed", [1, 2])
def test_record_batches_are_read_as_their_rows(seed, codec):
    """Every record of a batch read in place is decided as its row: queue, duplicates, sketches byte for byte,
    position, and each malformed record's dead letter (offset, key, value, headers, timestamp) and reason. A fetch
    that starts inside a batch skips the records before its offset, as aiokafka's does."""
    if split_batches is None:
        pytest.fail("the compiled reader is not built: run `make python`")
    rng = random.Random(seed)
    rows = kafka_rows(seed)
    batches = split_batches(message_set(rows, codec, rng), True)
    assert len(batches) > 10 and sum(b.count for b in batches) == len(rows)
    start = batches[3].base_offset + 1  # the fetch's offset falls inside the fourth batch
    batches = batches[3:]
    batches[0].skip_below = start
    rows = rows[start:]
    assert [r[:3] for b in batches for r in b.rows()] == [r[:3] for r in rows]
    warm_until = 600
    by_batch, by_row = (PartitionState(7, warm_until, DedupWindow(WINDOW)) for _ in range(2))
    totals = [0, 0, 0]
    at = 0
    while at < len(batches):
        step = batches[at : at + rng.randrange(1, 6)]
        at += len(step)
        totals = [a + b for a, b in zip(totals, compiled_ingest(by_batch, step), strict=True)]
    assert totals == list(ingest_python(by_row, rows))
    assert totals[1] > 50 and totals[2] > 50
    assert by_batch.pending.records(len(by_batch.pending)) == by_row.pending.records(len(by_row.pending))
    assert [(r.offset, r.key, r.value, r.headers, r.timestamp) for r, _ in by_batch.malformed] == [
        (o, b"k%d" % o, rows[o - start][2], rows[o - start][1], NOW + o) for o, _ in by_row.malformed
    ]
    assert [reason for _, reason in by_batch.malformed] == [reason for _, reason in by_row.malformed]
    assert by_batch.position == by_row.position == rows[-1][0]
    groups = by_row.uniques.take_dirty()
    assert by_batch.uniques.take_dirty() == groups
    assert by_batch.uniques.serialize(groups) == by_row.uniques.serialize(groups)


def test_a_message_set_is_split_as_kafka_lays_it_out():
    """A batch cut short at the end of a fetch is left for the next one; a flipped bit fails its CRC; a batch of
    an older message format hands the set back to aiokafka; a control batch is marked."""
    if split_batches is None:
        pytest.fail("the compiled reader is not built: run `make python`")
    rows = kafka_rows(3)[:500]
    raw = message_set(rows, 3, random.Random(3))
    whole = split_batches(raw, True)
    assert [b.count for b in split_batches(raw[:-1], True)] == [b.count for b in whole[:-1]]
    assert split_batches(raw[: whole[0].end], True)[0].next_offset == whole[1].base_offset
    flipped = bytearray(raw)
    flipped[whole[1].start + 70] ^= 1
    with pytest.raises(ValueError, match="CRC"):
        split_batches(bytes(flipped), True)
    assert len(split_batches(bytes(flipped), False)) == len(whole)  # a consumer that does not check CRCs
    older = bytearray(raw)
    older[whole[2].start + 16] = 1
    assert split_batches(bytes(older), False) is None
    assert not any(b.is_control for b in whole)


@pytest.mark.parametrize("as_batches", [False, True], ids=["rows", "record batches"])
def test_records_of_a_flush_the_store_refused_are_parked_and_the_rest_counted(as_batches):
    """``park_records``: the records up to the refused flush's last offset go to the dead letters with its error
    (their ids still enter the de-dup window, as a restarted owner's would), those after it are counted as usual,
    whether the consumer handed over rows or whole record batches."""
    if as_batches and split_batches is None:
        pytest.fail("the compiled reader is not built: run `make python`")
    rows = kafka_rows(4)[:300]
    records = split_batches(message_set(rows, 3, random.Random(4)), True) if as_batches else rows
    state = PartitionState(1, 0, DedupWindow(WINDOW))
    state.parking = (120, "refused: document too large")
    later, parked = partition.park_records(state, records)
    assert parked == 121 and state.parking is None and state.position == 120
    assert [r if type(r) is int else r.offset for r, _ in state.malformed] == list(range(121))
    assert {reason for _, reason in state.malformed} == {"refused: document too large"}
    assert [r[:3] for r in later] == [r[:3] for r in rows[121:]]
    recent = {partition.raw_event_id(h) for _, h, _, _ in rows[121 - WINDOW // 2 : 121]} - {None}
    assert recent and recent <= state.dedup.last.keys()
