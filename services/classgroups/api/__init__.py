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

# Check-ins first: a request is matched against the routes in this order (every included router's, twice in
# FastAPI 0.165), and check-in submissions are the service's busiest write. The order decides nothing else: no
# path matches routes of two routers (``tests/unit/classgroups/test_api_routes.py``).
routers = [
    checkins.router,
    classes.router,
    online.router,
    announcements.router,
    leaves.router,
    evaluation.router,
    interaction.router,
    courses.router,
    studios.router,
]
