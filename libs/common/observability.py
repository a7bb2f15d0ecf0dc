"""Metrics, traces and logs, the same in every service.

- Prometheus metrics (``/metrics``): HTTP requests and latency by route template and status; messages
  consumed, failed and dead-lettered by topic; consumer lag by topic and partition; producer errors; the
  outbox's backlog and relay errors; each service's business figures (:class:`BusinessFigure`).
- OpenTelemetry traces: an HTTP request opens a server span (continuing an incoming ``traceparent``); the
  W3C trace context is written into the Kafka headers of every event published under it, and a consumer
  continues that trace, so one trace follows a request across services.
- JSON log lines carrying the trace and span ids.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

import orjson
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.trace import SpanKind, Status, StatusCode
from prometheus_client import Counter, Gauge, Histogram

# --- metrics ---------------------------------------------------------------------------------------------
HTTP_REQUESTS = Counter("http_requests_total", "HTTP requests answered", ["service", "method", "route", "status"])
HTTP_LATENCY = Histogram(
    "http_request_duration_seconds",
    "HTTP request latency",
    ["service", "method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
MESSAGES_CONSUMED = Counter("kafka_messages_consumed_total", "Messages handled", ["service", "group", "topic"])
MESSAGES_FAILED = Counter(
    "kafka_messages_failed_total", "Handler attempts that raised", ["service", "group", "topic", "reason"]
)
MESSAGES_DEAD_LETTERED = Counter(
    "kafka_messages_dead_lettered_total", "Messages sent to a dead-letter topic", ["service", "group", "topic"]
)
CONSUMER_LAG = Gauge("kafka_consumer_lag", "High-water mark minus position", ["service", "group", "topic", "partition"])
CONSUMER_PROCESSING = Histogram(
    "kafka_consumer_processing_seconds",
    "Time a delivery (one record, or a batch) spent in its handler, retries included, by the partitions it came from",
    ["service", "group", "topic", "partition"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
DLQ_DEPTH = Gauge(
    "kafka_dlq_depth",
    "Records in a consumer group's dead-letter topic <group>.dlq (end minus start offsets over its partitions; "
    "every replica of the group reports the same figure)",
    ["service", "group", "topic"],
)
PRODUCER_ERRORS = Counter("kafka_producer_errors_total", "Publish attempts that failed", ["service", "topic"])
EVENTS_PUBLISHED = Counter("kafka_events_published_total", "Events published", ["service", "topic", "type"])
OUTBOX_PENDING = Gauge(
    "outbox_pending_events",
    "Events stored with their state change and not yet acknowledged by Kafka (the store's count, refreshed by "
    "every sweep; every replica reports the same figure)",
    ["service"],
)
OUTBOX_RELAY_ERRORS = Counter(
    "outbox_relay_errors_total",
    "Outbox relay failures: publish (Kafka), store, orphan (a change whose documents never carried its events), "
    "decode (a stored event that no longer reads back), unknown_source, other",
    ["service", "reason"],
)

SERVICE_READY = Gauge(
    "service_ready",
    "1 while the process's readiness check passes (store and Kafka reachable, consumers in their groups), 0 while "
    "it fails; measured every 5 s whether or not a probe asks, so alerts see it outside Kubernetes too",
    ["service"],
)


class BusinessFigure:
    """A business figure of a service (logins, check-ins, answers graded, course selections, recommendations
    served) as a Prometheus counter, counted at the handler's edge. Its one label takes only the values declared
    here (a fixed, small cardinality: never an id), and each is exported at 0 from the process's start, so a
    dashboard's ``rate()`` has a series before the first event and counts the first one."""

    declared: ClassVar[
        list[BusinessFigure]
    ] = []  # every figure of the modules imported (the dashboards' test reads it)

    def __init__(self, name: str, documentation: str, label: str, values: Iterable[str]) -> None:
        self.name, self.label, self.values = name, label, tuple(values)
        self.counter = Counter(name, documentation, [label])
        for value in self.values:
            self.counter.labels(value)
        BusinessFigure.declared.append(self)

    def count(self, value: str, n: int = 1) -> None:
        if value not in self.values:
            raise ValueError(f"{value!r} is not one of {self.values}")  # a new value is a code change, not data
        self.counter.labels(value).inc(n)


TRACE_ID_KEY = "smartedu.trace_id"
"""Where the request's trace id waits in the ASGI scope for the 500 handler."""

# --- tracing ---------------------------------------------------------------------------------------------
_provider: TracerProvider | None = None


def setup_tracing(service: str, otlp_endpoint: str | None = None, sample_ratio: float = 1.0) -> TracerProvider:
    """Install the process's tracer provider once. Spans are always created (their ids go into logs and
    Kafka headers); ``sample_ratio`` of the traces that start here are recorded (parent-based: a sampled
    caller's trace always is), and recorded spans are exported only when an OTLP endpoint is configured."""
    global _provider
    if _provider is None:
        _provider = tracer_provider(service, sample_ratio)
        if otlp_endpoint:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            _provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{otlp_endpoint}/v1/traces")))
        trace.set_tracer_provider(_provider)
    return _provider


def tracer_provider(service: str, sample_ratio: float = 1.0) -> TracerProvider:
    return TracerProvider(
        resource=Resource.create({"service.name": service, "service.namespace": "smartedu"}),
        sampler=ParentBased(TraceIdRatioBased(sample_ratio)),
    )


def tracer(name: str) -> trace.Tracer:
    return trace.get_tracer(name)


def inject_trace_headers(headers: dict[str, str]) -> dict[str, str]:
    """Add ``traceparent``/``tracestate`` of the current span to outgoing Kafka headers."""
    propagate.inject(headers)
    return headers


def extract_trace_context(headers: Mapping[str, str]) -> otel_context.Context:
    return propagate.extract(headers)


# --- logging ---------------------------------------------------------------------------------------------
class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "service": self.service,
            "logger": record.name,
            "message": record.getMessage(),
        }
        ctx = trace.get_current_span().get_span_context()
        if ctx.is_valid:
            entry["trace_id"] = f"{ctx.trace_id:032x}"
            entry["span_id"] = f"{ctx.span_id:016x}"
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


def setup_logging(service: str, level: str = "INFO", json_lines: bool = True) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter(service) if json_lines else logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("aiokafka", "pymongo", "faststream"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    # uvicorn's access log repeats what the metrics and traces already hold, at a high cost on hot paths.
    logging.getLogger("uvicorn.access").disabled = True


# --- HTTP ------------------------------------------------------------------------------------------------
class ObservabilityMiddleware:
    """Pure ASGI middleware: one server span and the request metrics per HTTP request.

    Written by hand rather than with opentelemetry-instrumentation-asgi because it sits on the collector's
    hot path: that package opens three spans per request (request, receive, send); this opens one. Routes
    are labelled by their template (``/v1/resources/{resource_id}``), never the raw path, to bound cardinality.
    """

    SKIP = frozenset({"/metrics", "/healthz", "/readyz"})

    SERIES_KEPT = 512  # (method, route, status) triples whose metric children are kept: the common ones

    def __init__(self, app: Any, service: str) -> None:
        self.app = app
        self.service = service
        self.tracer = tracer(f"smartedu.{service}.http")
        # The metric children of each (method, route, status), looked up once: ``labels()`` takes a lock and builds
        # its key on every call, twice per request.
        self._series: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def _metrics(self, method: str, template: str, status: int) -> tuple[Any, Any]:
        key = (method, template, status)
        found = self._series.get(key)
        if found is None:
            found = (
                HTTP_REQUESTS.labels(self.service, method, template, str(status)),
                HTTP_LATENCY.labels(self.service, method, template),
            )
            if len(self._series) < self.SERIES_KEPT:
                self._series[key] = found
        return found

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] in self.SKIP:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status_holder = [500]

        async def send_wrapper(message: dict) -> None:
            if message["type"] == "http.response.start":
                status_holder[0] = message["status"]
            await send(message)

        carrier = {
            k.decode("latin-1"): v.decode("latin-1")
            for k, v in scope.get("headers", ())
            if k in (b"traceparent", b"tracestate")
        }
        parent = extract_trace_context(carrier) if carrier else None
        method = scope["method"]
        with self.tracer.start_as_current_span(
            f"{method} {scope['path']}", context=parent, kind=SpanKind.SERVER
        ) as span:
            # The handler of unexpected errors runs outside this span (Starlette's outermost middleware): it
            # finds the trace id the client is told to quote here.
            scope[TRACE_ID_KEY] = span.get_span_context().trace_id  # formatted only by the 500 handler
            try:
                await self.app(scope, receive, send_wrapper)
            finally:
                route = scope.get("route")
                template = getattr(route, "path", None) or "unmatched"
                status = status_holder[0]
                span.update_name(f"{method} {template}")
                span.set_attribute("http.request.method", method)
                span.set_attribute("http.route", template)
                span.set_attribute("http.response.status_code", status)
                if status >= 500:
                    span.set_status(Status(StatusCode.ERROR))
                requests, latency = self._metrics(method, template, status)
                requests.inc()
                latency.observe(time.perf_counter() - started)


def header_items(headers: Iterable[tuple[str, bytes]]) -> dict[str, str]:
    """Kafka record headers as a str → str mapping (CloudEvents attributes are UTF-8)."""
    return {k: v.decode("utf-8", "replace") for k, v in headers if v is not None}
