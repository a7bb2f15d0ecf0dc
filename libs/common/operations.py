"""What the cluster and SREs see of a running service, apart from its API: the readiness verdict (``/readyz`` and
the ``service_ready`` gauge) and the operations endpoints every service serves (``/healthz``, ``/readyz``,
``/metrics``, ``/asyncapi``). ``ServiceKit`` owns one :class:`Readiness` and mounts :func:`operations_router`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

from aiokafka import TopicPartition
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from common import access, asyncapi
from common.observability import SERVICE_READY
from common.topics import all_topics

if TYPE_CHECKING:
    from common.service import ServiceKit

log = logging.getLogger("common.service")


class Readiness:
    """Ready: started, not stopping, the store and Kafka answer, every consumer is in its group, and every
    replaying consumer has handled its topic up to the end offsets read at start."""

    def __init__(self, kit: ServiceKit) -> None:
        self.kit = kit

    async def verdict(self) -> dict[str, Any]:
        kit = self.kit
        store_ok, kafka_ok = await asyncio.gather(kit.store.ping(), self._kafka_ok())
        consumers = {c.group_id: c.listener.joined for c in kit.consumers}
        if kit.started and any(c.replay and c.replay_to is None for c in kit.consumers):
            await self.capture_replay_targets()
        replayed = {c.group_id: c.replayed() for c in kit.consumers if c.replay}
        ready = all(consumers.values()) and all(replayed.values())
        return {
            "ready": kit.started and store_ok and kafka_ok and ready and not kit.stopping,
            "checks": {"store": store_ok, "kafka": kafka_ok, "consumers": consumers, "replayed": replayed},
        }

    async def measure(self) -> None:
        """service_ready for the alert SmartEduNotReady: the probe's own verdict, measured without a prober."""
        while True:
            with contextlib.suppress(Exception):
                SERVICE_READY.labels(self.kit.name).set(1 if (await self.verdict())["ready"] else 0)
            await asyncio.sleep(5)

    async def capture_replay_targets(self) -> None:
        """The end offsets of each replaying consumer's topic, once, at start: what "caught up" means for this
        process's readiness. A partition with nothing left in it (all expired) needs no replay. If Kafka does
        not answer now, the readiness probe asks again."""
        partitions = {t.name: t.partitions for t in all_topics()}
        for c in self.kit.consumers:
            consumer = getattr(c.subscriber, "consumer", None)
            if not c.replay or c.replay_to is not None or consumer is None:
                continue
            tps = [TopicPartition(c.topic, p) for p in range(partitions.get(c.topic, 1))]
            try:
                ends, starts = await asyncio.wait_for(
                    asyncio.gather(consumer.end_offsets(tps), consumer.beginning_offsets(tps)), 5.0
                )
            except Exception:
                log.warning("%s: end offsets of %s not read yet", self.kit.name, c.topic, exc_info=True)
                continue
            c.replay_to = {tp.partition: ends[tp] for tp in tps if ends[tp] > starts[tp]}
            for tp in tps:  # an expired prefix is not there to handle: count from where the log starts
                c.handled.setdefault(tp.partition, starts[tp])

    async def _kafka_ok(self) -> bool:
        try:
            return bool(await self.kit.broker.ping(timeout=1.5))
        except Exception:
            return False


def operations_router(kit: ServiceKit) -> APIRouter:
    """``/healthz``, ``/readyz``, ``/metrics`` and the AsyncAPI document of the events ``kit``'s service sends
    and receives."""
    ops = APIRouter(tags=["operations"])

    @ops.get("/healthz", summary="Liveness: the process answers")
    @access.public(note="probes; the ingress does not route them")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": kit.name}

    @ops.get("/readyz", summary="Readiness: store and Kafka reachable, consumers in their groups")
    @access.public(note="probes; the ingress does not route them")
    async def readyz() -> JSONResponse:
        state = await kit.readiness()
        return JSONResponse(state, status_code=200 if state["ready"] else 503)

    @ops.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
    @access.public(note="scraped inside the cluster; the ingress does not route it")
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @ops.get("/asyncapi.json", summary="AsyncAPI 3.1 document of the events this service sends and receives")
    @access.public()
    async def asyncapi_json() -> JSONResponse:
        return JSONResponse(asyncapi.document(kit.name))

    @ops.get("/asyncapi", response_class=HTMLResponse, include_in_schema=False)
    @access.public()
    async def asyncapi_html(request: Request) -> HTMLResponse:
        return HTMLResponse(asyncapi.html_page(asyncapi.document(kit.name)))

    return ops
