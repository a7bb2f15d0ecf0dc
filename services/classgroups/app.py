"""The class groups service: ``create_app()`` wires the chassis, the store, the handlers and the routes."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import FastAPI

import classgroups
from classgroups import api, consumers, wiring
from classgroups.access import ClassAccess
from classgroups.handlers.announcements import Announcements
from classgroups.handlers.classes import Classes
from classgroups.handlers.directory import Directory
from classgroups.handlers.evaluation import Evaluations
from classgroups.handlers.interaction import Interaction
from classgroups.handlers.leaves import Leaves
from classgroups.handlers.online import OnlineClasses
from classgroups.settings import ClassGroupsSettings
from classgroups.store import ClassGroupsStore, declare_outbox
from common.service import ServiceKit


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


def create_app(settings: ClassGroupsSettings | None = None) -> FastAPI:
    settings = settings or ClassGroupsSettings()
    kit = ServiceKit("classgroups", settings)
    declare_outbox(kit.outbox)
    store = ClassGroupsStore(kit.store.db, kit.outbox)
    access = ClassAccess(store)
    handlers = Handlers(
        store=store,
        access=access,
        directory=Directory(store),
        classes=Classes(store, access, settings.roster_max_rows),
        online=OnlineClasses(store, access, settings),
        announcements=Announcements(store, access),
        leaves=Leaves(store, access),
        evaluations=Evaluations(store, access),
        interaction=Interaction(store, access),
    )
    consumers.register(kit, handlers.directory)
    checkins, courses = wiring.wire(kit, settings, store, access)  # check-ins, their media, after-school courses
    app = kit.build_app(
        routers=api.routers,
        title="Class groups",
        description=classgroups.__doc__ or "",
        body_limits={},
    )
    app.state.classgroups = handlers
    app.state.checkins, app.state.courses = checkins, courses
    app.state.settings = settings
    return app
