"""Check-ins, their media and after-school courses, wired onto the service's kit (called by ``create_app``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from classgroups import checkins_store, courses_store
from classgroups.access import ClassAccess
from classgroups.checkins_store import CheckinStore
from classgroups.courses_store import CourseStore
from classgroups.domain.media import MediaLimits
from classgroups.handlers.checkins import CheckinService, UploadSettings, utcnow
from classgroups.handlers.courses import CourseService
from classgroups.media import ObjectStore
from classgroups.settings import ClassGroupsSettings
from classgroups.store import ClassGroupsStore
from common.contracts.classgroups import COURSE_REQUESTS_TOPIC
from common.messaging import Envelope
from common.service import ServiceKit

log = logging.getLogger("classgroups.wiring")


def object_store(settings: ClassGroupsSettings) -> ObjectStore:
    secret = settings.s3_secret_access_key
    return ObjectStore(
        endpoint_url=settings.s3_endpoint_url,
        public_endpoint_url=settings.s3_public_endpoint_url,
        access_key_id=settings.s3_access_key_id,
        secret_access_key=secret.get_secret_value() if secret else None,
        region=settings.s3_region,
        bucket=settings.media_bucket,
        create_bucket=settings.media_create_bucket,
    )


def wire(
    kit: ServiceKit, settings: ClassGroupsSettings, store: ClassGroupsStore, access: ClassAccess
) -> tuple[CheckinService, CourseService]:
    checkins_store.declare(kit.store, kit.outbox)
    courses_store.declare(kit.store, kit.outbox)
    objects = object_store(settings)
    uploads = UploadSettings(
        MediaLimits(settings.media_photo_max_bytes, settings.media_video_max_bytes),
        settings.media_upload_expires_seconds,
        settings.media_view_expires_seconds,
    )
    checkins = CheckinService(CheckinStore(kit.store.db, kit.outbox), access, objects, uploads)
    courses = CourseService(CourseStore(kit.store.db, kit.outbox), store, kit.publisher)

    @kit.consumer(topic=COURSE_REQUESTS_TOPIC, group="classgroups-courses", batch=True, max_records=500)
    async def on_course_requests(envelopes: list[Envelope]) -> None:
        await courses.apply(envelopes)

    sweeper: list[asyncio.Task[None]] = []

    async def award_periodically() -> None:
        while True:
            await asyncio.sleep(settings.labour_stars_sweep_seconds)
            try:
                await checkins.award_due(utcnow())
            except Exception:  # the next sweep tries again; a failure here must not stop the service
                log.exception("labour stars sweep failed")

    async def bucket() -> None:
        # The object store serves only check-in media: the service starts without it, and keeps trying.
        delay = 0.5
        while True:
            try:
                await objects.ensure_bucket()
                return
            except Exception as exc:
                log.warning("object store not ready (%s); retrying in %.0f s", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30)

    @kit.on_startup
    async def start() -> None:
        sweeper.append(asyncio.create_task(bucket(), name="media-bucket"))
        sweeper.append(asyncio.create_task(award_periodically(), name="labour-stars"))

    @kit.on_shutdown
    async def stop() -> None:
        for task in sweeper:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    return checkins, courses
