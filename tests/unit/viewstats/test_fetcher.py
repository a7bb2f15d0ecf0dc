"""What aiokafka's fetcher hands the aggregator's consumer (``viewstats.aggregator.fetcher``): whole record batches,
with the position moved as aiokafka moves it, and aiokafka's own records for every other consumer and case."""

import pytest
from aiokafka import TopicPartition
from aiokafka.consumer.fetcher import READ_COMMITTED, READ_UNCOMMITTED, PartitionRecords
from aiokafka.record.default_records import DefaultRecordBatchBuilder
from aiokafka.record.util import calc_crc32c
from aiokafka.structs import ConsumerRecord

from viewstats.aggregator import fetcher
from viewstats.aggregator.fetcher import rows

pytestmark = pytest.mark.unit
TP = TopicPartition("views", 3)


def batch(base: int, n: int, control: bool = False) -> bytes:
    builder = DefaultRecordBatchBuilder(2, 3, 1 if control else 0, 9 if control else -1, 0, -1, 1 << 20)
    for i in range(n):
        builder.append(i, timestamp=1_000 + i, key=None, value=b"v%d" % (base + i), headers=[("ce_id", b"e")])
    out = builder.build()
    out[0:8] = base.to_bytes(8, "big")
    if control:  # the control bit, then the CRC again (it covers the attributes)
        out[22] |= 0x20
        out[17:21] = calc_crc32c(bytes(out[21:])).to_bytes(4, "big")
    return bytes(out)


def partition_records(raw: bytes, fetch_offset: int, deserializer=rows, isolation=READ_UNCOMMITTED):
    records = fetcher.aiokafka_fetcher.MemoryRecords(raw)  # the fetcher's own name: the hook keeps the bytes
    return PartitionRecords(TP, records, [], fetch_offset, None, deserializer, True, isolation)


def test_the_aggregators_consumer_gets_whole_batches_and_the_position_moves_past_each():
    if not fetcher.reads_batches:
        pytest.fail("the compiled reader is not built: run `make python`")
    raw = batch(0, 5) + batch(5, 5, control=True) + batch(10, 4)
    fetched = partition_records(raw, fetch_offset=2)  # a fetch from inside the first batch
    first = next(fetched)
    assert type(first).__name__ == "RecordBatch" and (first.base_offset, first.skip_below) == (0, 2)
    assert [r[0] for r in first.rows()] == [2, 3, 4] and fetched.next_fetch_offset == 5
    second = next(fetched)  # the control batch is skipped, as aiokafka skips it
    assert (second.base_offset, second.skip_below, fetched.next_fetch_offset) == (10, 10, 14)
    assert [r[2] for r in second.rows()] == [b"v10", b"v11", b"v12", b"v13"]
    assert next(fetched, None) is None


def test_other_consumers_and_committed_reads_get_aiokafkas_records():
    raw = batch(0, 3) + batch(3, 2)
    other = list(partition_records(raw, 1, deserializer=None))
    assert all(type(r) is ConsumerRecord for r in other) and [r.offset for r in other] == [1, 2, 3, 4]
    committed = list(partition_records(raw, 1, isolation=READ_COMMITTED))  # aborted transactions: aiokafka's logic
    assert [r[0] for r in committed] == [1, 2, 3, 4] and all(type(r) is tuple for r in committed)


def test_a_corrupt_batch_raises_where_the_records_are_taken():
    if not fetcher.reads_batches:
        pytest.fail("the compiled reader is not built: run `make python`")
    raw = bytearray(batch(0, 3) + batch(3, 2))
    raw[-3] ^= 1
    fetched = partition_records(bytes(raw), 0)  # made without raising, as aiokafka's fetcher needs
    with pytest.raises(fetcher.CorruptRecordException, match="CRC"):
        next(fetched)
