"""What aiokafka's fetcher hands the aggregator's consumer: the record batches of each fetch, whole (read in place by
the compiled reader, ``domain._reader``), or, without that reader, a row ``(offset, headers, value, record)`` per
record instead of aiokafka's ``ConsumerRecord``. Every other consumer in the process gets aiokafka's records as
before: the aggregator's consumer is marked by its value deserializer (:func:`rows`). aiokafka's version is locked
(uv.lock); ``tests/unit/viewstats/test_fetcher.py`` and the aggregator's integration tests read through these hooks.
"""

from __future__ import annotations

from typing import Any

from aiokafka import TopicPartition
from aiokafka.consumer import fetcher as aiokafka_fetcher
from aiokafka.errors import CorruptRecordException

try:
    from viewstats.domain._reader import split_batches
except ImportError:  # the compiled reader is not built: aiokafka's records, as rows
    split_batches = None

reads_batches = split_batches is not None


def rows(value: bytes) -> bytes:
    """The aggregator's consumer's value deserializer: a no-op whose identity marks the consumer whose fetcher
    hands over record batches (:func:`_batches_or_records`) or rows (:func:`_row_or_record`)."""
    return value


_consumer_record = aiokafka_fetcher.PartitionRecords._consumer_record


def _row_or_record(self: Any, tp: TopicPartition, record: Any) -> Any:
    """aiokafka builds a ``ConsumerRecord`` (eleven fields, a copy of the headers) from each record its C decoder
    made; the aggregator reads three attributes of it and then built its row from them: two objects and a pass per
    record that cost ≈ 1/10 of its time, half of it freeing them. For the consumer marked by :func:`rows` the
    fetcher returns the row itself, over the C record (offset, key, value, timestamp, headers: what a dead letter
    needs, ``as_consumer_record``); every other consumer in the process gets its ``ConsumerRecord`` as before."""
    if self._value_deserializer is rows:
        return (record.offset, record.headers, record.value, record)
    return _consumer_record(self, tp, record)


aiokafka_fetcher.PartitionRecords._consumer_record = _row_or_record


class _RecordsKept:
    """aiokafka's ``MemoryRecords`` of a fetch (its fetcher makes one per partition and fetch), with the fetched
    bytes kept: the aggregator's consumer reads its batches from them (:func:`_batches_or_records`). The bound
    methods are its own: aiokafka's calls cost no extra frame."""

    __slots__ = ("has_next", "next_batch", "raw", "size_in_bytes")

    def __init__(self, raw: bytes) -> None:
        records = _memory_records(raw)
        self.raw = raw
        self.has_next, self.next_batch, self.size_in_bytes = records.has_next, records.next_batch, records.size_in_bytes


_memory_records = aiokafka_fetcher.MemoryRecords
_unpack_records = aiokafka_fetcher.PartitionRecords._unpack_records


def _batches_or_records(self: Any) -> Any:
    """What aiokafka's fetcher hands out for one partition's fetch. For the aggregator's consumer (marked by
    :func:`rows`), with the compiled reader built and uncommitted reads: the record batches themselves
    (``domain._reader.RecordBatch``), read record by record in C by ``ingest``; aiokafka's decoding of every record
    into objects and their freeing were ≈ 2/5 of the aggregator's time. The position moves as aiokafka's does
    (control batches skipped, a fetch from inside a batch skips the records before it, the position past a
    batch's last offset). Otherwise, and for a set with a batch of an older format, aiokafka's own records."""
    raw = getattr(self._records, "raw", None)
    if (
        self._value_deserializer is rows
        and reads_batches
        and type(raw) is bytes
        and self._isolation_level == aiokafka_fetcher.READ_UNCOMMITTED
    ):
        return _record_batches(self, raw)
    return _unpack_records(self)


def _record_batches(self: Any, raw: bytes) -> Any:
    # a generator, as aiokafka's: a corrupt set raises where its records are taken (getmany), not in the fetcher
    try:
        batches = split_batches(raw, self._check_crcs)
    except ValueError as exc:
        raise CorruptRecordException(f"{exc} - {self._tp}") from exc
    if batches is None:  # a batch of message format v0 or v1
        yield from _unpack_records(self)
        return
    for batch in batches:
        if batch.next_offset <= self.next_fetch_offset:
            continue
        if batch.is_control:  # transaction markers, skipped whatever the isolation level, as aiokafka does
            self.next_fetch_offset = batch.next_offset
            continue
        batch.skip_below = self.next_fetch_offset
        self.next_fetch_offset = batch.next_offset
        yield batch


aiokafka_fetcher.MemoryRecords = _RecordsKept
aiokafka_fetcher.PartitionRecords._unpack_records = _batches_or_records
