"""Who may call a route: the intended access rule, declared on the route itself.

Every route of every service carries one rule, written as the policy says it should be (not read off the code
that enforces it)::

    @router.post("/v1/orgs", status_code=201)
    @access.role(*ADMINS, target="body.parent")
    async def add_org(...): ...

The decorator only records the rule (it enforces nothing: enforcement stays in ``common.auth``'s dependencies
and the domain). ``ServiceKit.build_app`` copies it into the OpenAPI document as ``x-access``, so clients and
reviewers read the same rule, and ``tests/adversarial`` derives the authorization matrix from it: every route
is called as anonymous, student, parent, teacher, school / county / province / ministry admin and catalog
editors and reviewers, inside and outside the target's subtree, and the outcome must be the one the rule
implies. A route without a rule fails that suite (tests/adversarial/test_authz_matrix.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from common.auth import MINISTRY_ADMIN, ORG_ADMIN_ROLES

F = TypeVar("F", bound=Callable[..., Any])

ADMINS = ORG_ADMIN_ROLES
"""Every admin role (school, county, city, province, ministry)."""
MINISTRY = MINISTRY_ADMIN

RuleKind = Literal[
    "public",
    "signed_in",
    "account_kind",
    "role",
    "account_admin",
    "role_grantor",
    "guardian_approver",
    "oauth_client",
    "relation",
]

MEANING: dict[str, str] = {
    "public": "Anyone, anonymous callers included.",
    "signed_in": "Any valid access token; the caller acts on their own data only.",
    "account_kind": "A signed-in account of one of `kinds` (chosen at registration).",
    "role": "One of `roles`, held with a scope covering every organisation the target belongs to "
    "(a ministry-wide role covers all; no target: the role held anywhere).",
    "account_admin": "The account itself, or an admin whose scopes cover every organisation the target account "
    "belongs to and whose level is not below the target's highest admin role.",
    "role_grantor": "Admin roles: an admin strictly above the node (ministry for ministry and provider roles). "
    "School membership: an admin covering the school, and only for an account that belongs nowhere else.",
    "guardian_approver": "The student's head teacher, an admin covering the student's school, or the student "
    "once old enough; never the requesting parent.",
    "oauth_client": "OAuth client authentication (client secret or PKCE); a user's bearer token grants nothing.",
    "relation": "A signed-in caller who stands in one of `relations` to the object the path names (e.g. a teacher "
    "of the class, a member, a guardian of the student, an admin covering the class's school), as the service's "
    "own records say; anyone else learns 403 or 404.",
}


@dataclass(frozen=True)
class Access:
    """One route's rule. ``target`` names where the organisation the rule is about comes from (e.g.
    ``path.path``, ``body.parent``, ``query.province``, ``resource.provider``); documentation for readers."""

    kind: RuleKind
    roles: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    target: str | None = None
    note: str = ""
    relations: tuple[str, ...] = ()

    def document(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"rule": self.kind, "meaning": MEANING[self.kind]}
        if self.roles:
            doc["roles"] = list(self.roles)
        if self.kinds:
            doc["kinds"] = list(self.kinds)
        if self.relations:
            doc["relations"] = list(self.relations)
        if self.target:
            doc["target"] = self.target
        if self.note:
            doc["note"] = self.note
        return doc


ATTRIBUTE = "__access__"


def _declare(rule: Access) -> Callable[[F], F]:
    def mark(endpoint: F) -> F:
        setattr(endpoint, ATTRIBUTE, rule)
        return endpoint

    return mark


def public(note: str = "") -> Callable[[F], F]:
    return _declare(Access("public", note=note))


def signed_in(note: str = "") -> Callable[[F], F]:
    return _declare(Access("signed_in", note=note))


def account_kind(*kinds: str, note: str = "") -> Callable[[F], F]:
    return _declare(Access("account_kind", kinds=kinds, note=note))


def role(*roles: str, target: str | None = None, note: str = "") -> Callable[[F], F]:
    if not roles:
        raise ValueError("access.role needs at least one role")
    return _declare(Access("role", roles=roles, target=target, note=note))


def account_admin(note: str = "") -> Callable[[F], F]:
    return _declare(Access("account_admin", target="path.user_id", note=note))


def role_grantor(note: str = "") -> Callable[[F], F]:
    return _declare(Access("role_grantor", target="body.org", note=note))


def guardian_approver(note: str = "") -> Callable[[F], F]:
    return _declare(Access("guardian_approver", target="path.child_id", note=note))


def oauth_client(note: str = "") -> Callable[[F], F]:
    return _declare(Access("oauth_client", note=note))


def relation(*relations: str, target: str | None = None, note: str = "") -> Callable[[F], F]:
    """Object-level access: the caller must stand in one of ``relations`` to the object (``target`` names where
    it comes from, e.g. ``path.class_id``)."""
    if not relations:
        raise ValueError("access.relation needs at least one relation")
    return _declare(Access("relation", relations=relations, target=target, note=note))


def declare(endpoint: Callable[..., Any], rule: Access) -> None:
    """Record a rule on an endpoint the service does not decorate itself (the framework's docs routes)."""
    setattr(endpoint, ATTRIBUTE, rule)


def rule_of(route: Any) -> Access | None:
    return getattr(getattr(route, "endpoint", None), ATTRIBUTE, None)


def routes(app: Any) -> list[Any]:
    """Every route the app serves, routers included (FastAPI 0.165 keeps included routers as one entry of
    ``app.routes``); each has ``path``, ``methods`` and ``endpoint``."""
    from fastapi.routing import iter_route_contexts

    return list(iter_route_contexts(app.routes))


def document(app: Any) -> None:
    """Put every operation's rule into the OpenAPI document as ``x-access``."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = build()
        for route in routes(app):
            rule = rule_of(route)
            item = schema.get("paths", {}).get(route.path_format or route.path)
            for method in route.methods or ():
                if rule is not None and item is not None and method.lower() in item:
                    item[method.lower()]["x-access"] = rule.document()
        return schema

    app.openapi = openapi
