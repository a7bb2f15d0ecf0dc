"""Every process kind starts, joins its consumer groups and becomes ready logged in to Kafka as its own principal:
the ACLs common.topics declares are enough for what each service does at start (its producer, its groups, its
start-up reads), and `make run` (which starts each service as its principal) works under them."""

from __future__ import annotations

import pytest

from common.topics import PRINCIPALS
from tests.conftest import free_port, kafka_secured

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not kafka_secured(), reason="needs the SASL broker deploy/local/infra.sh runs"),
]


@pytest.mark.parametrize("factory", [p.factory for p in PRINCIPALS])
def test_the_process_is_ready_under_its_own_principal(service_process, factory) -> None:
    process = service_process(factory, free_port())  # logs in as common.topics.principal_of(factory)
    assert process.env["KAFKA_SASL_USERNAME"] != "admin"
    process.start(timeout=120)  # /readyz 200: store, Kafka, and every consumer in its group
