"""Identity's HTTP API, one router per area, HTTP only over the handlers (``identity.handlers``): request and
response models, status codes, the protocol's wire forms (OAuth errors, redirects), the authentication failures
(401) and the registry's unavailability (503). Refusals of the domain's rules are domain errors, mapped to problems
by the chassis."""

from __future__ import annotations

from identity.api import accounts, guardians, oidc, orgs, snapshots, subscribers, teachers

routers = [
    accounts.router,
    orgs.router,
    teachers.router,
    guardians.router,
    oidc.router,
    snapshots.router,
    subscribers.router,
]

__all__ = ["routers"]
