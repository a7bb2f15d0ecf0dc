"""HTTP API of class groups: routes only (every route declares its ``common.access`` rule; object-level access
is checked by the handlers through :mod:`classgroups.access`)."""

from classgroups.api import (
    announcements,
    checkins,
    classes,
    courses,
    evaluation,
    interaction,
    leaves,
    online,
    studios,
)

routers = [
    classes.router,
    online.router,
    announcements.router,
    leaves.router,
    evaluation.router,
    interaction.router,
    checkins.router,
    courses.router,
    studios.router,
]
