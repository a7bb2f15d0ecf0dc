"""The class groups service: ``create_app()`` wires the chassis, the store, the object store, the handlers, the
consumers, the background tasks and the routes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from fastapi import FastAPI

import classgroups
from classgroups import api, consumers, store
from classgroups.access import ClassAccess
from classgroups.domain.media import MediaLimits
from classgroups.handlers.announcements import Announcements
from classgroups.handlers.catalog import CatalogFeed
from classgroups.handlers.checkins import Checkins, UploadSettings
from classgroups.handlers.classes import Classes
from classgroups.handlers.courses import CourseService
from classgroups.handlers.deactivation import Deactivation
from classgroups.handlers.directory import Directory
from classgroups.handlers.evaluation import Evaluations
from classgroups.handlers.files import Files
from classgroups.handlers.interaction import Interaction
from classgroups.handlers.leaves import Leaves
from classgroups.handlers.online import OnlineClasses
from classgroups.handlers.studios import Studios
from classgroups.media import ObjectStore
from classgroups.media_head import ObjectStoreUnavailable
from classgroups.settings import ClassGroupsSettings
from classgroups.store import ClassGroupsStore
from common.problems import install_unavailable
from common.service import ServiceKit

log = logging.getLogger("classgroups.app")


@dataclass(frozen=True)
class Handlers:
    """What the routes reach through ``app.state.classgroups``."""

    store: ClassGroupsStore
    access: ClassAccess
    directory: Directory
    classes: Classes
    online: OnlineClasses
    announcements: Announcements
    leaves: Leaves
    evaluations: Evaluations
    interaction: Interaction
    studios: Studios
    catalog: CatalogFeed


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


def install_object_store_problem(app: FastAPI) -> None:
    """A store that does not answer is a 503 to retry, as the database's; a store that refuses the service's own
    reads (wrong keys, a policy) stays a logged 500: an operator's fault."""
    install_unavailable(
        app,
        (ObjectStoreUnavailable,),
        "The object store of check-in media is not reachable; try again shortly.",
        "object-store-unavailable",
    )


async def ensure_bucket(objects: ObjectStore) -> None:
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


def create_app(settings: ClassGroupsSettings | None = None) -> FastAPI:
    settings = settings or ClassGroupsSettings()
    kit = ServiceKit("classgroups", settings)
    store.declare(kit.store, kit.outbox)
    db = ClassGroupsStore(
        kit.store.db,
        kit.outbox,
        settings.class_cache_seconds,
        submission_batch=settings.submission_batch,
        submission_linger=settings.submission_linger_ms / 1000,
        submission_epoch=settings.submission_epoch_ms / 1000,
    )
    access = ClassAccess(db)
    objects = object_store(settings)
    uploads = UploadSettings(
        MediaLimits(settings.media_photo_max_bytes, settings.media_video_max_bytes),
        settings.media_upload_expires_seconds,
        settings.media_view_expires_seconds,
    )
    files = Files(objects, uploads)
    handlers = Handlers(
        store=db,
        access=access,
        directory=Directory(db),
        classes=Classes(db, access, settings.roster_max_rows),
        online=OnlineClasses(db, access, settings),
        announcements=Announcements(db, access),
        leaves=Leaves(db, access, files),
        evaluations=Evaluations(db, access),
        interaction=Interaction(db, access),
        studios=Studios(db, access, files),
        catalog=CatalogFeed(db),
    )
    checkins = Checkins.build(db.checkins, access, objects, uploads)
    courses = CourseService(db.courses, db, kit.publisher)
    handlers.directory.on_deactivated = Deactivation(db)
    consumers.register(kit, handlers, courses, db.classes.cache, settings.replica_id)

    background: list[asyncio.Task[None]] = []

    @kit.on_startup
    async def start() -> None:
        background.append(asyncio.create_task(ensure_bucket(objects), name="media-bucket"))
        sweep = checkins.stars.sweep(settings.labour_stars_sweep_seconds)
        background.append(asyncio.create_task(sweep, name="labour-stars"))

    @kit.on_shutdown
    async def stop() -> None:
        for task in background:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        objects.close()

    app = kit.build_app(
        routers=api.routers,
        title="Class groups",
        description=classgroups.__doc__ or "",
        body_limits={},
    )
    install_object_store_problem(app)
    app.state.classgroups = handlers
    app.state.checkins, app.state.courses = checkins, courses
    app.state.settings = settings
    return app
