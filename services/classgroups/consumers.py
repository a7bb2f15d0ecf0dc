"""Thin subscribers: parse, call the handler. Identity's account events keep the directory current (role changes
take effect as soon as they arrive, without a restart), and its compacted account snapshots rebuild it for accounts
older than the users topic's retention; the catalog's feed keeps which resources are published
(the studios' shared resources); the course writer applies the course requests, one course at a time (see
``handlers.courses``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from classgroups.handlers.courses import CourseService
from common.contracts.catalog import ResourcePublished
from common.contracts.classgroups import COURSE_REQUESTS_TOPIC
from common.contracts.identity import ACCOUNTS_TOPIC, USERS_TOPIC
from common.messaging import Envelope
from common.service import ServiceKit

if TYPE_CHECKING:
    from classgroups.app import Handlers


def register(kit: ServiceKit, handlers: Handlers, courses: CourseService) -> None:
    @kit.consumer(topic=USERS_TOPIC, group="classgroups-identity", batch=True, max_records=500)
    async def on_accounts(envelopes: list[Envelope]) -> None:
        await handlers.directory.apply(envelopes)

    @kit.consumer(topic=ACCOUNTS_TOPIC, group="classgroups-accounts", batch=True, max_records=500)
    async def on_account_snapshots(envelopes: list[Envelope]) -> None:
        """Identity's compacted account snapshots: the directory of accounts older than the users topic."""
        await handlers.directory.apply(envelopes)

    @kit.consumer(topic=ResourcePublished.TOPIC, group="classgroups-catalog", batch=True, max_records=1000)
    async def on_catalog(envelopes: list[Envelope]) -> None:
        await handlers.catalog.apply(envelopes)

    @kit.consumer(topic=COURSE_REQUESTS_TOPIC, group="classgroups-courses", batch=True, max_records=500)
    async def on_course_requests(envelopes: list[Envelope]) -> None:
        await courses.apply(envelopes)
