"""``TRACES_SAMPLE_RATIO``: which spans are recorded. An unrecorded span still has a trace id (logs and Kafka
headers carry it), and a trace a caller marked as sampled is recorded whatever the ratio."""

from __future__ import annotations

from opentelemetry import propagate

from common.observability import tracer_provider

SAMPLED_PARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
UNSAMPLED_PARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"


def test_a_ratio_of_zero_records_no_trace_that_starts_here_but_keeps_its_id() -> None:
    t = tracer_provider("test", 0.0).get_tracer("t")
    with t.start_as_current_span("request") as span:
        assert not span.is_recording()
        assert span.get_span_context().trace_id != 0
        headers: dict[str, str] = {}
        propagate.inject(headers)
        trace_id = f"{span.get_span_context().trace_id:032x}"
        _version, sent_id, _parent, flags = headers["traceparent"].split("-")
        assert sent_id == trace_id and int(flags, 16) & 1 == 0  # passed on, marked as not sampled


def test_the_callers_decision_is_followed() -> None:
    t = tracer_provider("test", 0.0).get_tracer("t")
    with t.start_as_current_span("consume", context=propagate.extract({"traceparent": SAMPLED_PARENT})) as span:
        assert span.is_recording()
        assert f"{span.get_span_context().trace_id:032x}" == SAMPLED_PARENT.split("-")[1]
    t = tracer_provider("test", 1.0).get_tracer("t")
    with t.start_as_current_span("consume", context=propagate.extract({"traceparent": UNSAMPLED_PARENT})) as span:
        assert not span.is_recording()


def test_a_ratio_of_one_records_every_trace() -> None:
    t = tracer_provider("test", 1.0).get_tracer("t")
    assert all(t.start_span(f"r{i}").is_recording() for i in range(50))
