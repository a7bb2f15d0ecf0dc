"""A 500 problem tells the client "quote the trace id": it must carry one (found by the adversarial suite: the
handler of unexpected errors runs outside the request's span, so the body said ``"trace_id": null``)."""

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from common.observability import ObservabilityMiddleware, setup_tracing
from common.problems import install_problem_handlers

pytestmark = pytest.mark.unit


def test_an_unexpected_error_answers_with_the_trace_id_of_its_request() -> None:
    setup_tracing("test")
    # as ServiceKit builds it: FastAPI's own telemetry off, so ObservabilityMiddleware's span is the only one
    app = FastAPI(telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False})
    install_problem_handlers(app)
    app.add_middleware(ObservabilityMiddleware, service="test")

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret internals")

    traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    client = TestClient(app, raise_server_exceptions=False)
    r = client.get("/boom", headers={"traceparent": traceparent})
    assert r.status_code == 500
    assert r.json()["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    fresh = client.get("/boom").json()["trace_id"]  # no incoming trace: the request's own
    assert fresh and len(fresh) == 32 and fresh != "0" * 32
