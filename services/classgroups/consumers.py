"""Thin subscribers: parse, call the handler. Identity's account events keep the directory current (role changes
take effect as soon as they arrive, without a restart), and its compacted account snapshots rebuild it for accounts
older than the users topic's retention; the catalog's feed keeps which resources are published (the studios' shared
resources); the course writer applies the course requests, one course at a time (see ``handlers.courses``); the
service's own class events keep every replica's cache of classes current (``store.cache``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from classgroups.handlers.courses import CourseService
from classgroups.store.cache import Cache
from common.contracts.catalog import ResourcePublished
from common.contracts.classgroups import CLASSES_TOPIC, COURSE_REQUESTS_TOPIC
from common.contracts.identity import ACCOUNTS_TOPIC, USERS_TOPIC
from common.messaging import Envelope
from common.service import ServiceKit

if TYPE_CHECKING:
    from classgroups.app import Handlers


def register(kit: ServiceKit, handlers: Handlers, courses: CourseService, classes: Cache, replica_id: str) -> None:
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

    @kit.consumer(
        topic=CLASSES_TOPIC,
        group="classgroups-cache",
        batch=True,
        max_records=2000,
        group_suffix=f"-{replica_id}",
        from_beginning=False,  # the cache starts empty: only changes from now on matter
    )
    async def on_class_changes(envelopes: list[Envelope]) -> None:
        for env in envelopes:
            class_id = getattr(env.event, "class_id", None)
            if class_id:
                classes.invalidate(class_id)
