"""``ServiceKit``: what every service's ``create_app()`` is built from.

It owns the clients (Kafka broker with an idempotent producer, the store), the publisher, the consumers,
and the FastAPI app's standard parts: ``/healthz``, ``/readyz``, ``/metrics``, ``/asyncapi``, problem+json
errors, tracing and metrics middleware. A service adds its routers, consumers and start-up hooks::

    kit = ServiceKit("catalog", settings)
    kit.store.declare_indexes("resources", [...])

    @kit.consumer(topic=ResourcePopularityChanged.TOPIC, group="catalog-popularity")
    async def on_popularity(envelope: Envelope) -> None: ...

    app = kit.build_app(routers=[api.router], title="Catalog")

Lifespan: store indexes → producer connected → outbox relay → start-up hooks (load read models) → consumers
start. Shutdown: the outbox relay publishes what it holds → consumers stop taking new records and finish
in-flight ones (commit) → hooks → producer flushed and closed → store closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any

from aiokafka import ConsumerRebalanceListener, TopicPartition
from fastapi import APIRouter, FastAPI
from faststream import AckPolicy
from faststream.kafka.annotations import KafkaMessage

from common import access
from common.bodylimit import BodyLimitMiddleware
from common.direct_route import DirectLane
from common.messaging import (
    BatchHandler,
    ConsumerRunner,
    EventPublisher,
    Handler,
    kafka_broker,
    leave_undecoded,
    parse_any_record,
)
from common.observability import (
    CONSUMER_LAG,
    CONSUMER_PROCESSING,
    DLQ_DEPTH,
    SERVICE_READY,
    ObservabilityMiddleware,
    setup_logging,
    setup_tracing,
)
from common.operations import Readiness, operations_router
from common.outbox import Outbox, RelayOptions
from common.problems import document_problems, install_problem_handlers
from common.settings import ServiceSettings
from common.store import Store
from common.topics import all_topics
from common.topics import group as declared_group

log = logging.getLogger("common.service")
Hook = Callable[[], Awaitable[None]]
_DOCS_PATHS = frozenset({"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"})
# A started service collects the cyclic GC's youngest generation after this many new container objects, not
# CPython's 700. What requests in flight hold while they wait crossed 700 about 130 times a second at 640 check-in
# submissions/s, each pass walking what was alive and promoting it to be walked again by the older generations,
# though reference counting frees nearly all of it: 63–78 µs of the loop thread's ≈ 1 ms per submission, under 2 µs
# at this threshold ("Session 19" in docs/BENCHMARKS.md). Cyclic garbage waits for at most this many allocations.
YOUNG_GC_THRESHOLD = 20_000


class _Heap:
    """The process's heap while any kit of it is started: what start-up loaded frozen, the youngest generation's
    threshold raised. A pod runs one kit; tests start several and stop them in any order, so the last kit to stop
    gives both back."""

    holders = 0
    saved: tuple[int, ...] = ()

    @classmethod
    def settle(cls) -> None:
        # What start-up loaded (modules, routes, a service's in-memory tables) lives as long as the process:
        # frozen, the cyclic GC stops re-walking it on every full collection of the request path's garbage.
        # On the collector that walk was about a quarter of a beacon's cost. Start-up's garbage is collected first.
        gc.collect()
        gc.freeze()
        if cls.holders == 0:
            cls.saved = gc.get_threshold()
            gc.set_threshold(YOUNG_GC_THRESHOLD, *cls.saved[1:])
        cls.holders += 1

    @classmethod
    def release(cls) -> None:
        cls.holders -= 1
        if cls.holders == 0:
            gc.unfreeze()  # what start-up loaded may be freed again (tests start many apps in one process)
            gc.set_threshold(*cls.saved)


class _AssignmentListener(ConsumerRebalanceListener):
    """Records that the consumer joined its group (readiness) and which partitions it owns."""

    def __init__(self) -> None:
        self.joined = False
        self.assigned: set[TopicPartition] = set()

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        self.assigned -= set(revoked)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self.joined = True
        self.assigned |= set(assigned)


class _Consumer:
    def __init__(self, group: str, group_id: str, topic: str, listener: _AssignmentListener, replay: bool) -> None:
        self.group = group
        self.group_id = group_id
        self.topic = topic
        self.subscriber: Any = None
        self.listener = listener
        # replay: readiness waits until the records up to the end offsets captured at start are handled
        self.replay = replay
        self.replay_to: dict[int, int] | None = None  # partition → end offset at start (None: not captured yet)
        self.handled: dict[int, int] = {}  # partition → next offset after the last handled record

    def replayed(self) -> bool:
        if not self.replay:
            return True
        if self.replay_to is None:
            return False
        return all(self.handled.get(p, 0) >= end for p, end in self.replay_to.items())


class ServiceKit:
    def __init__(self, name: str, settings: ServiceSettings, *, version: str = "0.1.0") -> None:
        self.name = name
        self.settings = settings
        self.version = version
        setup_logging(name, settings.log_level, settings.log_json)
        setup_tracing(name, settings.otel_exporter_otlp_endpoint, settings.traces_sample_ratio)
        self.broker = kafka_broker(
            settings,
            client_id=f"smartedu-{name}",
            enable_idempotence=True,  # implies acks=all: an acknowledged event survives a broker failover
            acks="all",
            linger_ms=5,
            # Bulk publishes (an import, a replay) go out in large batches: aiokafka keeps one batch in flight per
            # partition, so its 16 KiB default caps a catalog import at a few thousand events per second.
            max_batch_size=1024 * 1024,
            graceful_timeout=settings.shutdown_grace_seconds,
            logger=logging.getLogger(f"faststream.{name}"),
        )
        self.store = Store(
            settings.mongodb_url,
            f"{settings.mongodb_database_prefix}{name}",
            app_name=name,
            max_pool_size=settings.mongodb_max_pool_size,
        )
        self.publisher = EventPublisher(self.broker, name)
        # Services announce state changes through the outbox (kit.outbox.source(...), .change(...)); its relay
        # publishes through the publisher above, from start to stop.
        self.outbox = Outbox(self.store.db, self.publisher, name, RelayOptions.of(settings))
        self.consumers: list[_Consumer] = []
        self._readiness = Readiness(self)
        self._startup: list[Hook] = []
        self._settled_heap = False
        self._shutdown: list[Hook] = []
        self._background: list[asyncio.Task[None]] = []
        self.stopping = False
        self.started = False

    # --- registration ------------------------------------------------------------------------------------
    def on_startup(self, hook: Hook) -> Hook:
        self._startup.append(hook)
        return hook

    def on_shutdown(self, hook: Hook) -> Hook:
        self._shutdown.append(hook)
        return hook

    def consumer(
        self,
        *,
        topic: str,
        group: str,
        batch: bool = False,
        max_records: int = 500,
        group_suffix: str = "",
        from_beginning: bool = True,
        replay: bool = False,
    ) -> Callable[[Handler | BatchHandler], Handler | BatchHandler]:
        """Subscribe ``handler`` to ``topic`` in consumer group ``group`` (declared in common.topics).

        ``batch=True`` hands the handler up to ``max_records`` envelopes at a time (the hot paths).
        ``group_suffix`` makes a per-replica group (e.g. a read model every replica must hold in full).
        ``replay=True`` (a read model rebuilt from the topic at each start): readiness waits until the handler
        has handled every record below the topic's end offsets captured when the process started.
        """
        declared = declared_group(group)
        if topic not in declared.topics:
            raise ValueError(f"consumer group {group} does not declare topic {topic} in common.topics")

        def register(handler: Handler | BatchHandler) -> Handler | BatchHandler:
            group_id = f"{self.settings.kafka_client_prefix}{group}{group_suffix}"
            runner = ConsumerRunner(
                service=self.name,
                group=group,
                dead_letter_topic=declared.dead_letter_topic,
                broker=self.broker,
                handler=handler,
                batch=batch,
                max_attempts=self.settings.consumer_max_attempts,
                backoff=self.settings.consumer_backoff_seconds,
                is_stopping=lambda: self.stopping,
            )
            listener = _AssignmentListener()
            entry = _Consumer(group, group_id, topic, listener, replay)
            options: dict[str, Any] = {"max_records": max_records} if batch else {}
            subscriber = self.broker.subscriber(
                topic,
                group_id=group_id,
                batch=batch,
                auto_offset_reset="earliest" if from_beginning else "latest",
                ack_policy=AckPolicy.NACK_ON_ERROR,
                parser=parse_any_record,  # whatever a record's bytes, it reaches decode() and, if bad, the DLQ
                decoder=leave_undecoded,
                listener=listener,
                title=f"{group}:{topic}",
                description=declared.description,
                **options,
            )

            @subscriber
            async def _on_message(message: KafkaMessage) -> None:
                raw = message.raw_message
                records = raw if isinstance(raw, tuple) else (raw,)
                started = time.perf_counter()
                try:
                    await runner.handle_records(records)
                    if replay:  # handled (or dead-lettered): the replay is past these offsets
                        for r in records:
                            if r.offset >= entry.handled.get(r.partition, 0):
                                entry.handled[r.partition] = r.offset + 1
                finally:
                    # A batch may span partitions: each of them waited for the whole delivery.
                    elapsed = time.perf_counter() - started
                    for topic_name, partition in {(r.topic, r.partition) for r in records}:
                        CONSUMER_PROCESSING.labels(self.name, group, topic_name, str(partition)).observe(elapsed)

            entry.subscriber = subscriber
            self.consumers.append(entry)
            return handler

        return register

    # --- lifecycle ---------------------------------------------------------------------------------------
    async def start(self) -> None:
        t0 = time.perf_counter()
        await self.store.ensure_indexes()
        t1 = time.perf_counter()
        await self.broker.connect()
        self.outbox.relay.start()
        t2 = time.perf_counter()
        for hook in self._startup:
            await hook()
        t3 = time.perf_counter()
        await self.broker.start()
        await self._readiness.capture_replay_targets()
        self._background.append(asyncio.create_task(self._measure_lag(), name=f"{self.name}-lag"))
        self._background.append(asyncio.create_task(self._readiness.measure(), name=f"{self.name}-ready"))
        self.started = True
        _Heap.settle()
        self._settled_heap = True
        marks = [("indexes", t0), ("Kafka producer", t1), ("start-up hooks", t2), ("consumers", t3)]
        self._log_phases("started", marks)

    async def stop(self) -> None:
        self.stopping = True
        SERVICE_READY.labels(self.name).set(0)
        t0 = time.perf_counter()
        for task in self._background:
            task.cancel()
        # What the relay holds goes out while the producer is up; what it cannot publish stays in the store.
        await self.outbox.relay.stop(self.settings.shutdown_grace_seconds / 2)
        t1 = time.perf_counter()
        await self.broker.stop()  # stops consuming, waits for in-flight handlers, flushes the producer
        t2 = time.perf_counter()
        for hook in reversed(self._shutdown):
            # each bounded here, for every service: one stuck client or task must not hold the pod past its
            # termination grace period (what a cancelled hook left uncommitted is read again by the next owner)
            try:
                await asyncio.wait_for(hook(), self.settings.shutdown_grace_seconds)
            except Exception:
                log.exception("shutdown hook %s failed", getattr(hook, "__qualname__", hook))
        t3 = time.perf_counter()
        await self.store.close()
        if self._settled_heap:
            self._settled_heap = False
            _Heap.release()
        self._log_phases("stopped", [("outbox relay", t0), ("broker", t1), ("shutdown hooks", t2), ("store", t3)])

    def _log_phases(self, done: str, marks: list[tuple[str, float]]) -> None:
        """Where a slow start or stop went, phase by phase (``marks``: each phase's name and start): SREs compare
        it with the readiness probe's budget and with the pod's terminationGracePeriodSeconds."""
        now = time.perf_counter()
        ends = [start for _, start in marks[1:]] + [now]
        phases = ", ".join(f"{name} {end - start:.1f} s" for (name, start), end in zip(marks, ends, strict=True))
        log.info("%s %s in %.1f s (%s)", self.name, done, now - marks[0][1], phases)

    @contextlib.asynccontextmanager
    async def lifespan(self, app: FastAPI) -> AsyncIterator[None]:
        await self.start()
        try:
            yield
        finally:
            await self.stop()

    async def _measure_lag(self) -> None:
        partitions = {t.name: t.partitions for t in all_topics()}
        while True:
            for c in self.consumers:
                consumer = getattr(c.subscriber, "consumer", None)
                if consumer is not None:
                    await measure_group(self.name, c.group, consumer, list(c.listener.assigned), partitions)
            await asyncio.sleep(5)

    # --- probes ------------------------------------------------------------------------------------------
    async def readiness(self) -> dict[str, Any]:
        """The verdict ``/readyz`` answers (``common.operations.Readiness``)."""
        return await self._readiness.verdict()

    # --- the app -----------------------------------------------------------------------------------------
    def build_app(
        self,
        *,
        routers: Sequence[APIRouter] = (),
        title: str,
        description: str = "",
        body_limits: Mapping[str, int] | None = None,
    ) -> FastAPI:
        """``body_limits``: request-body limits of exact paths that need more than HTTP_MAX_BODY_BYTES."""
        # FastAPI's native telemetry would open a second server span (plus spans per dependency and per
        # serialisation) beside ObservabilityMiddleware's one: 16 % of the collector's CPU per beacon.
        app = FastAPI(
            title=title,
            description=description,
            version=self.version,
            lifespan=self.lifespan,
            telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
        )
        app.state.kit = self
        install_problem_handlers(app)
        # The innermost: its requests are measured, traced and size-checked like any other.
        app.add_middleware(DirectLane, app=app)
        # Inside the observability middleware, so that a 413 is measured like any other answer.
        app.add_middleware(BodyLimitMiddleware, max_bytes=self.settings.http_max_body_bytes, per_path=body_limits)
        app.add_middleware(ObservabilityMiddleware, service=self.name)
        app.include_router(operations_router(self))
        for router in routers:
            app.include_router(router)
        # FastAPI's own pages (OpenAPI document, Swagger UI, ReDoc) describe the public API: public.
        for route in access.routes(app):
            if access.rule_of(route) is None and route.path in _DOCS_PATHS:
                access.declare(route.endpoint, access.Access("public", note="API documentation"))
        access.document(app)
        document_problems(app)
        return app


async def measure_group(
    service: str, group: str, consumer: Any, assigned: list[TopicPartition], partitions: dict[str, int]
) -> None:
    """One consumer group's dead-letter depth and lag per assigned partition, into ``kafka_dlq_depth`` and
    ``kafka_consumer_lag``: ServiceKit's consumers every 5 s, and any process whose consumer is its own (the feed
    router). Kafka away: the gauges keep their last figures."""
    dlq = declared_group(group).dead_letter_topic
    with contextlib.suppress(Exception):
        tps = [TopicPartition(dlq, p) for p in range(partitions.get(dlq, 1))]
        ends, starts = await asyncio.wait_for(
            asyncio.gather(consumer.end_offsets(tps), consumer.beginning_offsets(tps)), 2.0
        )
        DLQ_DEPTH.labels(service, group, dlq).set(sum(ends[tp] - starts[tp] for tp in tps))
    with contextlib.suppress(Exception):
        # The partitions' ends asked of the broker, not the fetcher's high-water marks: a consumer whose handler is
        # stuck stops fetching, and its high-water marks (so its lag) froze with it.
        ends = await asyncio.wait_for(consumer.end_offsets(assigned), 2.0) if assigned else {}
        for tp in assigned:
            position = await asyncio.wait_for(consumer.position(tp), 1.0)
            CONSUMER_LAG.labels(service, group, tp.topic, str(tp.partition)).set(max(0, ends[tp] - position))
