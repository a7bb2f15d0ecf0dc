"""The collector's work: beacons → records on the views topic.

``POST /v1/views`` takes one beacon or up to ``collector_max_batch`` of them, maps the client IP to a
province offline, and produces one record per view to the views topic, keyed by resource id. It answers
202 only after Kafka acknowledged every record of the request (idempotent producer, acks=all), so a 202
means the views are durable; a batch with bad items still accepts the good ones and lists the bad ones by
index and reason. A request's records are grouped by partition (the same murmur2 partitioner as a keyed
send) and handed to the producer as one ready-made batch per partition (small requests use plain sends, which
share the producer's open batches with other requests): aiokafka's per-record ``send()`` costs
tens of microseconds of Python per view, which capped a 1,000-beacon request at ~13,000 views/s. One round trip
per request, not per beacon.

Limits (an anonymous endpoint): a body above ``collector_max_body_bytes`` is refused with 413 before it is read
(the chassis' body limit for ``/v1/views``: by its Content-Length, or while a streamed body arrives), and each
client address has a token bucket of beacons per second in this replica's memory (``domain.ratelimit``): 429 with
``Retry-After`` once spent. The client address is the socket peer unless ``TRUSTED_PROXY_HOPS`` says how many
proxies' ``X-Forwarded-For`` entries to believe (``common.network``). Heartbeats credit learning hours, which are
for teachers: only a principal holding the ``teacher`` role may send them, and the ledger credits no more than the
collector's clock allows (``domain.learning.credited_seconds``)."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from aiokafka.partitioner import DefaultPartitioner

from common.contracts.viewstats import HeartbeatRecorded
from common.kafka import as_record_headers, kafka_producer
from common.messaging import encode
from common.problems import Problem
from common.reference import country_of_province
from viewstats.domain.beacon import BeaconError, parse_beacon
from viewstats.domain.geo import ProvinceTable
from viewstats.domain.ratelimit import RateLimiter, client_key
from viewstats.settings import ViewstatsSettings
from viewstats.wire import SOURCE, compression_type, view_record

SMALL_REQUEST = 50  # below this many views a request's own batches would be too small to be worth it


class Collector:
    def __init__(self, settings: ViewstatsSettings) -> None:
        self.settings = settings
        self.table = ProvinceTable.load(settings.ip_table) if settings.ip_table else ProvinceTable.load()
        self.producer: AIOKafkaProducer | None = None
        self.partitioner = DefaultPartitioner()
        self._partition_of: dict[tuple[bytes, int], int] = {}  # murmur2 in Python costs ~6 µs a key
        self.limiter = RateLimiter(
            settings.collector_ip_rate_per_second, settings.collector_ip_burst, settings.collector_ip_max_clients
        )
        self.clock = time.time  # the server's clock stamps beacons and heartbeats (tests may drive it)

    async def start(self) -> None:
        self.producer = kafka_producer(
            self.settings,
            client_id="smartedu-viewstats-collector",
            enable_idempotence=True,  # acks=all: a 202 survives a broker failover
            linger_ms=5,
            max_batch_size=256 * 1024,
            compression_type=compression_type(self.settings.views_compression),
            request_timeout_ms=self.settings.collector_kafka_timeout_ms,
        )
        await self.producer.start()

    async def stop(self) -> None:
        if self.producer:
            await self.producer.stop()

    def admit(self, ip: str | None) -> str:
        """The client's rate-limit key, or 429 when its bucket is spent; ``charge`` takes the request's beacons."""
        key = client_key(ip)
        now = time.monotonic()
        wait = self.limiter.admit(key, now)
        if wait is not None:
            raise Problem(
                429,
                "Too many beacons",
                "This address sent more beacons than the collector accepts; retry later with the same event ids.",
                code="rate-limited",
                headers={"Retry-After": str(max(1, round(wait + 0.5)))},
            )
        return key

    def charge(self, key: str, n: int) -> None:
        self.limiter.charge(key, n, time.monotonic())

    async def views(self, items: list[Any], ip: str | None) -> tuple[int, list[dict[str, Any]]]:
        assert self.producer is not None
        province = self.table.lookup(ip) if ip else None
        country = country_of_province(province) if province else None
        now_ms = int(self.clock() * 1000)
        rejected: list[dict[str, Any]] = []
        records = []
        for i, item in enumerate(items):
            try:
                v = parse_beacon(item, now_ms, province=province, country=country)
            except BeaconError as exc:
                rejected.append({"index": i, "field": exc.field, "reason": exc.reason})
                continue
            records.append(view_record(v))
        if records:
            # A full producer queue (KafkaTimeoutError from a send) is back-pressure, not a server fault: 503.
            try:
                futures = await self._produce(records)
                await (futures[0] if len(futures) == 1 else asyncio.gather(*futures))
            except KafkaError as exc:
                raise Problem(
                    503,
                    "Views not stored",
                    "Kafka did not acknowledge the views; retry with the same event ids (duplicates are dropped).",
                    code="kafka-unavailable",
                    headers={"Retry-After": "1"},
                ) from exc
        return len(records), rejected

    async def _produce(self, records: list[tuple[bytes, bytes, list[tuple[str, bytes]]]]) -> list[asyncio.Future]:
        assert self.producer is not None
        topic = self.settings.views_topic
        partitions = sorted(await self.producer.partitions_for(topic))
        by_partition: dict[int, list[tuple[bytes, bytes, list[tuple[str, bytes]]]]] = defaultdict(list)
        if len(self._partition_of) > 200_000:
            self._partition_of.clear()
        for record in records:
            slot = (record[0], len(partitions))
            partition = self._partition_of.get(slot)
            if partition is None:
                partition = self._partition_of[slot] = self.partitioner(record[0], partitions, partitions)
            by_partition[partition].append(record)
        if len(records) < SMALL_REQUEST:  # a few views join the producer's open batches (shared by requests)
            return [
                await self.producer.send(topic, value, key=key, headers=headers, partition=partition)
                for partition, part in by_partition.items()
                for key, value, headers in part
            ]
        futures = []
        for partition, part in by_partition.items():
            batch = self.producer.create_batch()
            for key, value, headers in part:
                if batch.append(key=key, value=value, timestamp=None, headers=headers) is None:  # full: ship it
                    futures.append(await self.producer.send_batch(batch, topic, partition=partition))
                    batch = self.producer.create_batch()
                    batch.append(key=key, value=value, timestamp=None, headers=headers)
            futures.append(await self.producer.send_batch(batch, topic, partition=partition))
        return futures

    async def heartbeat(self, user_id: str, resource_id: str, seconds: int, event_id: str) -> None:
        """Put one heartbeat of a signed-in teacher on its topic, stamped with the collector's clock; waits for
        Kafka's acknowledgement (503 problem otherwise)."""
        assert self.producer is not None
        event = HeartbeatRecorded(
            user_id=user_id,
            resource_id=resource_id,
            seconds=seconds,
            at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.clock())),
        )
        value, headers = encode(event, SOURCE, event_id=event_id)
        try:
            await self.producer.send_and_wait(
                self.settings.heartbeats_topic, value, key=event.key().encode(), headers=as_record_headers(headers)
            )
        except KafkaError as exc:
            raise Problem(503, "Heartbeat not stored", code="kafka-unavailable") from exc
