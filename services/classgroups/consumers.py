"""Thin subscribers: parse, call the handler. Identity's account events keep the directory current (role changes
take effect as soon as they arrive, without a restart); the course writer applies the course requests, one course
at a time (see ``handlers.courses``); the service's own class events keep every replica's cache of classes current
(``store.cache``)."""

from __future__ import annotations

from classgroups.handlers.courses import CourseService
from classgroups.handlers.directory import Directory
from classgroups.store.cache import Cache
from common.contracts.classgroups import CLASSES_TOPIC, COURSE_REQUESTS_TOPIC
from common.contracts.identity import USERS_TOPIC
from common.messaging import Envelope
from common.service import ServiceKit


def register(kit: ServiceKit, directory: Directory, courses: CourseService, classes: Cache, replica_id: str) -> None:
    @kit.consumer(topic=USERS_TOPIC, group="classgroups-identity", batch=True, max_records=500)
    async def on_accounts(envelopes: list[Envelope]) -> None:
        await directory.apply(envelopes)

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
