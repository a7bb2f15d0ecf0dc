"""The exporter's consumers: one group per learning topic (common.topics ``xapi-*``), each batch of events becomes
statements POSTed to the LRS in one request; the batch's offsets are committed only after the LRS accepted it.

While the LRS is down the chassis retries the batch with exponential backoff, without limit and without
dead-lettering (``DependencyUnavailable``): nothing is lost, and a statement sent twice (a retry after a timeout
whose request did land, a crash before the commit) has the id the LRS already holds (a UUIDv5 of the event's id)."""

from __future__ import annotations

from common.messaging import Envelope
from common.service import ServiceKit
from common.topics import CONSUMER_GROUPS
from xapi.domain.statements import Mapping, statement
from xapi.lrs import LearningRecordStore
from xapi.settings import XapiSettings


def register(kit: ServiceKit, settings: XapiSettings, lrs: LearningRecordStore, mapping: Mapping) -> None:
    async def export(envelopes: list[Envelope]) -> None:
        statements = {}
        for envelope in envelopes:
            s = statement(envelope.event, envelope.id, mapping)
            if s is not None:  # one id once per request: a record the producer sent twice is one statement
                statements[s["id"]] = s
        if statements:
            await lrs.store(list(statements.values()))

    for group in (g for g in CONSUMER_GROUPS if g.service == "xapi"):
        for topic in group.topics:
            kit.consumer(topic=topic, group=group.name, batch=True, max_records=settings.batch_max_records)(export)
