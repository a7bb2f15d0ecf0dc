"""The authorization matrix: every route of every service (``app.routes``), called as every persona, inside and
outside the target's subtree; the outcome must be the one the route's declared rule (``common.access``)
implies. The rule is the intended policy; :func:`expected` below turns it into an outcome without looking at
how the service enforces it.

A probe is a concrete request against a route, built fresh per cell where the call changes state (an allowed
deactivation deactivates its target), with the organisations its target belongs to. A route without a rule, or
without a probe here, fails :func:`test_every_route_declares_a_rule_and_has_a_probe`.

Cells where today's code breaks an intended rule that another engineer is fixing are ``xfail(strict=True)``
with the hole and branch: when the fix lands they pass, the strict xfail fails, and the marker is removed.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest

from common import access
from tests.adversarial.platform import (
    COUNTY_IN,
    COUNTY_OUT,
    PASSWORD,
    PERSONAS,
    PROVIDER_IN,
    SCHOOL_A,
    SCHOOL_G,
    Platform,
    national_id,
    phone,
    route_table,
)

pytestmark = [pytest.mark.adversarial, pytest.mark.timeout(600)]

LEVEL = {"school_admin": 1, "county_admin": 2, "city_admin": 3, "province_admin": 4, "ministry_admin": 5}


def covers(scope: str | None, target: str | None) -> bool:
    """The policy's own subtree test (not common.auth's): a ministry-wide role covers everything; a scoped
    role covers its node and what lies below it, never a national target."""
    if scope is None:
        return True
    return target is not None and (target == scope or target.startswith(scope + "/"))


def holds(persona: str, roles: tuple[str, ...], targets: list[str | None] | None) -> bool:
    """Whether the persona holds one of ``roles`` covering every target (``None``: held anywhere)."""
    pairs = [(r.partition("@")[0], r.partition("@")[2] or None) for r in PERSONAS[persona][1]]
    if persona == "teacher":
        pairs = [("teacher", SCHOOL_A)]
    return any(name in roles and (targets is None or all(covers(s, t) for t in targets)) for name, s in pairs)


def admin_scopes(persona: str) -> list[tuple[str | None, int]]:
    pairs = [(r.partition("@")[0], r.partition("@")[2] or None) for r in PERSONAS[persona][1]]
    return [(scope, LEVEL[name]) for name, scope in pairs if name in LEVEL]


@dataclass(frozen=True)
class Target:
    """An account acted upon: the organisations it belongs to (school and role scopes; ``None`` for a
    ministry-wide role) and its highest admin level (0: none)."""

    places: tuple[str | None, ...]
    level: int = 0


def administers(persona: str, target: Target) -> bool:
    scopes = admin_scopes(persona)
    if not scopes:
        return False
    covered = all(any(covers(s, p) for s, _ in scopes) for p in target.places)
    return covered and max(level for _, level in scopes) >= target.level


@dataclass
class Request:
    method: str
    url: str
    json: Any = None
    params: dict[str, Any] | None = None
    content: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)


Builder = Callable[[Any, str], Request]


@dataclass
class Probe:
    service: str
    method: str
    path: str
    build: Builder
    name: str = "default"
    targets: list[str | None] | None = None  # rule "role": what the role must cover (None: held anywhere)
    account: Target | None = None  # rules account_admin / role_grantor: the account acted on
    grant: tuple[str, str | None] | None = None  # rule role_grantor: (role, org)
    related: frozenset[str] = frozenset()  # rule relation: the personas standing in the relation to the object
    ok: frozenset[int] = frozenset()  # statuses that still mean "authorized" (e.g. 404 of a random id)
    denied: frozenset[int] = frozenset({403})
    xfail: dict[str, str] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.service} {self.method} {self.path} [{self.name}]"


def expected(rule: access.Access, probe: Probe, persona: str) -> str:
    """allow / deny / login (401), from the declared rule alone."""
    if rule.kind == "public":
        return "allow"
    if rule.kind == "oauth_client":
        return "login"  # the probes send no client credentials: a user's token must not count as one
    if persona == "anonymous":
        return "login"
    kind = PERSONAS[persona][0]
    if rule.kind == "signed_in":
        return "allow"
    if rule.kind == "account_kind":
        return "allow" if kind in rule.kinds else "deny"
    if rule.kind == "role":
        return "allow" if holds(persona, rule.roles, probe.targets) else "deny"
    if rule.kind == "account_admin":
        assert probe.account is not None
        return "allow" if administers(persona, probe.account) else "deny"
    if rule.kind == "guardian_approver":
        return "allow" if holds(persona, (*access.ADMINS, "head_teacher"), [SCHOOL_A]) else "deny"
    if rule.kind == "role_grantor":
        assert probe.grant is not None and probe.account is not None
        role, org = probe.grant
        if role == "ministry_admin" or role.startswith("catalog_"):
            return "allow" if holds(persona, ("ministry_admin",), None) else "deny"
        if role in LEVEL:  # an admin strictly above the node
            above = any(covers(s, org) and s != org for s, _ in admin_scopes(persona))
            return "allow" if above else "deny"
        return "allow" if administers(persona, Target((org, *probe.account.places), probe.account.level)) else "deny"
    if rule.kind == "relation":
        return "allow" if persona in probe.related else "deny"
    raise AssertionError(f"no outcome for rule {rule.kind}")


# --------------------------------------------------------------------------------------------- fixtures


class Ctx:
    """Builds the probes' targets through the public APIs, as the ministry admin (or the owner)."""

    def __init__(self, platform: Platform) -> None:
        self.p = platform
        self.ministry = platform.personas["ministry_admin"].headers
        self._shared: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._session_lock = threading.Lock()
        self._local = threading.local()
        self._rows: dict[str, dict[str, Any]] = {}
        # long-lived threads, so that their clients (one set per thread) are made once, not once per row
        self.pool = ThreadPoolExecutor(max_workers=len(PERSONAS), thread_name_prefix="matrix")

    @property
    def http(self) -> dict[str, httpx.Client]:
        """One client set per thread: a row's cells run in parallel."""
        if not hasattr(self._local, "http"):
            self._local.http = {name: self.p.client(name) for name in self.p.urls}
        return self._local.http

    def shared(self, key: str, make: Callable[[], Any]) -> Any:
        with self._lock:
            if key not in self._shared:
                self._shared[key] = make()
            return self._shared[key]

    def row(self, probe: Probe) -> dict[str, Any]:
        """Every persona's response to the probe, called in parallel (the cells of a row are independent:
        state-changing probes build their own targets), computed when the row's first cell runs."""
        if probe.id not in self._rows:

            def cell(persona: str) -> Any:
                try:
                    request = probe.build(self, persona)
                    return request, self.call(probe.service, request, self.p.personas[persona].headers)
                except Exception as exc:
                    return exc

            self._rows[probe.id] = dict(zip(PERSONAS, self.pool.map(cell, PERSONAS), strict=True))
        return self._rows[probe.id]

    def call(self, service: str, req: Request, headers: dict[str, str] | None = None) -> httpx.Response:
        return self.http[service].request(
            req.method,
            req.url,
            json=req.json,
            params=req.params,
            content=req.content,
            headers={**req.headers, **(headers or {})},
        )

    # identity
    def account(self, *roles: str, kind: str = "student", birth: date | None = None) -> str:
        return self.p.account(kind, *roles, birth=birth)

    def session(self) -> dict[str, Any]:
        """A fresh session of one shared account. Its logins go one at a time: identity evaluates at most
        IDENTITY_LOGIN_MAX_FAILURES attempts of an account at once (each holds a failure slot while its password
        is checked) and answers the others 429, and a row's cells run in parallel."""
        ident = self.shared("session-account", lambda: self.p.register("student")[1])
        with self._session_lock:
            return self.p.login(ident)

    def oidc_client(self) -> dict[str, Any]:
        def make() -> dict[str, Any]:
            body = {"name": "省级平台", "redirect_uris": ["https://rp.example.cn/cb"], "public": True}
            r = self.http["identity"].post("/v1/oidc-clients", json=body, headers=self.ministry)
            assert r.status_code == 201, r.text
            return r.json()

        return self.shared("oidc-client", make)

    def pending_link(self) -> tuple[str, str]:
        child = self.shared("child", lambda: self.account(f"student@{SCHOOL_A}", birth=date(2016, 3, 1)))
        parent_id, ident = self.p.register("parent")
        r = self.http["identity"].post("/v1/guardian-links", json={"child_id": child}, headers=self.p.bearer(ident))
        assert r.status_code == 201, r.text
        return child, parent_id

    # catalog
    def resource(self, state: str = "draft") -> str:
        r = self.http["catalog"].post("/v1/resources", json=draft(), headers=self.ministry)
        assert r.status_code == 201, r.text
        rid = r.json()["id"]
        for action in {"draft": [], "in_review": ["submit"], "published": ["submit", "publish"]}[state]:
            r = self.http["catalog"].post(f"/v1/resources/{rid}/{action}", headers=self.ministry)
            assert r.status_code == 200, r.text
        return rid

    def lesson(self) -> str:
        """A lesson of the textbook tree (imported once), for exercises."""

        def make() -> str:
            version = f"tv.adv{uuid.uuid4().hex[:6]}.primary.math"
            base = {"type": "node", "stage": "primary", "subject": "math"}
            rows = [
                {**base, "id": version, "node_type": "textbook_version", "title": "人教版", "edition": "人教版"},
                {
                    **base,
                    "id": f"{version}/g5b",
                    "node_type": "volume",
                    "parent_id": version,
                    "title": "五下",
                    "grade": 5,
                },
                {
                    **base,
                    "id": f"{version}/g5b/u1",
                    "node_type": "unit",
                    "parent_id": f"{version}/g5b",
                    "title": "分数",
                    "grade": 5,
                },
                {
                    **base,
                    "id": f"{version}/g5b/u1/l1",
                    "node_type": "lesson",
                    "parent_id": f"{version}/g5b/u1",
                    "title": "第1课时",
                    "grade": 5,
                },
            ]
            r = self.http["catalog"].post(
                "/v1/import",
                content=b"\n".join(orjson.dumps(row) for row in rows),
                headers={**self.ministry, "Content-Type": "application/x-ndjson"},
            )
            assert r.status_code == 200, r.text
            return f"{version}/g5b/u1/l1"

        return self.shared("lesson", make)

    def exercise(self) -> str:
        r = self.http["catalog"].post("/v1/exercises", json=exercise_body(self.lesson()), headers=self.ministry)
        assert r.status_code == 201, r.text
        return r.json()["id"]


def exercise_content(lesson: str) -> dict[str, Any]:
    return {
        "item_type": "single_choice",
        "stem": "1/4 + 2/4 = ?",
        "choices": [{"key": "A", "text": "3/4"}, {"key": "B", "text": "3/8"}],
        "answer_key": ["A"],
        "explanation": "同分母分数相加，分母不变，分子相加。",
        "knowledge_points": ["分数的加法"],
        "difficulty": 2,
        "lesson_id": lesson,
    }


def exercise_body(lesson: str) -> dict[str, Any]:
    return {"external_id": f"adv-{uuid.uuid4().hex}", "provider_id": "pep", "content": exercise_content(lesson)}


def draft(provider: str = "pep") -> dict[str, Any]:
    return {
        "external_id": f"adv-{uuid.uuid4().hex}",
        "provider_kind": "publisher",
        "provider_id": provider,
        "content": CONTENT,
    }


CONTENT = {
    "kind": "video_lesson",
    "title": "分数的初步认识",
    "summary": "认识几分之一。",
    "section": "local_channels",
    "local_channel": "hn",
    "stages": ["primary"],
    "grades": [3],
    "subjects": ["math"],
    "license": "CC-BY-NC-ND-4.0",
    "media": [{"url": "https://r.smartedu.cn/adv.mp4", "duration_seconds": 300}],
}


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    return verifier, base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")


# --------------------------------------------------------------------------------------------- probes

OPS = [
    "/healthz",
    "/readyz",
    "/metrics",
    "/asyncapi.json",
    "/asyncapi",
    "/openapi.json",
    "/docs",
    "/docs/oauth2-redirect",
    "/redoc",
]
SERVICES = ["identity", "catalog", "viewstats", "collector", "recommender", "classgroups", "xapi", "feeds"]
STUDENT_A = Target((SCHOOL_A,))
TWO_SUBTREES = Target((SCHOOL_A, COUNTY_OUT), LEVEL["county_admin"])
MINISTRY_MEMBER = Target((SCHOOL_A, None), LEVEL["ministry_admin"])
UNAFFILIATED = Target(())
OF_G = Target((SCHOOL_G,))


def _get(url: str, **params: Any) -> Builder:
    return lambda ctx, persona: Request("GET", url, params=params or None)


def _post(url: str, body: Any = None) -> Builder:
    return lambda ctx, persona: Request("POST", url, json=body)


def _account_probe(method: str, path: str, name: str, target: Target, make: Callable[[Ctx], str], **kw) -> Probe:
    verb = "deactivate" if "deactivate" in path else ""
    return Probe(
        "identity",
        method,
        path,
        lambda ctx, persona: Request(method, f"/v1/accounts/{make(ctx)}" + (f"/{verb}" if verb else "")),
        name=name,
        account=target,
        **kw,
    )


def _grant_probe(path: str, name: str, role: str, org: str | None, target: Target, make: Callable[[Ctx], str], **kw):
    return Probe(
        "identity",
        "POST",
        path,
        lambda ctx, persona: Request("POST", path, json={"user_id": make(ctx), "role": role, "org": org}),
        name=name,
        account=target,
        grant=(role, org),
        denied=frozenset({403, 409}),
        **kw,
    )


NO_SUBSCRIBER = "sub-000000000000"
REPLAY = {"since": "2026-01-01T00:00:00+00:00", "until": "2026-01-01T01:00:00+00:00"}


def _identity_probes() -> list[Probe]:
    def consent(ctx: Ctx, persona: str) -> Request:
        return Request("POST", "/oauth2/consent", json={"client_id": ctx.oidc_client()["client_id"], "scope": "openid"})

    def authorize(ctx: Ctx, persona: str) -> Request:
        _, challenge = pkce()
        if ctx.p.personas[persona].token:
            # the user's recorded consent comes first (without it: 403 consent_required, not an authorization
            # outcome of the route's rule)
            assert ctx.call("identity", consent(ctx, persona), ctx.p.personas[persona].headers).status_code == 200
        params = {
            "client_id": ctx.oidc_client()["client_id"],
            "redirect_uri": "https://rp.example.cn/cb",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "state": "s",
        }
        return Request("GET", "/oauth2/authorize", params=params)

    def new_client(ctx: Ctx) -> str:
        """A relying party of its own (a deactivation must not end the shared one the other probes use)."""
        body = {"name": "县级平台", "redirect_uris": ["https://county.example.cn/cb"], "public": True}
        r = ctx.http["identity"].post("/v1/oidc-clients", json=body, headers=ctx.ministry)
        assert r.status_code == 201, r.text
        return r.json()["client_id"]

    def invitation(answer: str) -> tuple[str, dict[str, Any]]:
        return f"/v1/accounts/me/invitations/{answer}", {"role": "student", "org": SCHOOL_A}

    missing = frozenset({404})
    return [
        Probe(
            "identity",
            "POST",
            "/v1/accounts",
            lambda ctx, persona: Request(
                "POST",
                "/v1/accounts",
                json={"phone": phone(), "password": PASSWORD, "real_name": "测试", "kind": "student"},
            ),
            ok=frozenset({429}),
        ),
        Probe(
            "identity",
            "POST",
            "/v1/sessions",
            lambda ctx, persona: Request(
                "POST", "/v1/sessions", json={"identifier": ctx.p.personas["parent"].identifier, "password": PASSWORD}
            ),
            ok=frozenset({429}),
        ),
        Probe(
            "identity",
            "POST",
            "/v1/sessions/refresh",
            lambda ctx, persona: Request(
                "POST", "/v1/sessions/refresh", json={"refresh_token": ctx.session()["refresh_token"]}
            ),
        ),
        Probe(
            "identity",
            "POST",
            "/v1/sessions/logout",
            lambda ctx, persona: Request(
                "POST", "/v1/sessions/logout", json={"refresh_token": ctx.session()["refresh_token"]}
            ),
        ),
        Probe("identity", "GET", "/v1/accounts/me", _get("/v1/accounts/me")),
        _account_probe(
            "GET",
            "/v1/accounts/{user_id}",
            "student of school A",
            STUDENT_A,
            lambda ctx: ctx.shared("student-a", lambda: ctx.account(f"student@{SCHOOL_A}")),
        ),
        _account_probe(
            "GET",
            "/v1/accounts/{user_id}",
            "member of A, county admin in Guangdong",
            TWO_SUBTREES,
            lambda ctx: ctx.shared("two", lambda: ctx.account(f"student@{SCHOOL_A}", f"county_admin@{COUNTY_OUT}")),
        ),
        _account_probe(
            "GET",
            "/v1/accounts/{user_id}",
            "ministry admin who is a member of A",
            MINISTRY_MEMBER,
            lambda ctx: ctx.shared("min-a", lambda: ctx.account("ministry_admin", f"student@{SCHOOL_A}")),
        ),
        Probe(
            "identity",
            "POST",
            "/v1/accounts/me/password",
            # a new password the policy refuses: authorized callers get 422 and nothing changes
            _post("/v1/accounts/me/password", {"current_password": PASSWORD, "new_password": "short"}),
            ok=frozenset({422}),
        ),
        Probe(
            "identity",
            "POST",
            "/v1/password-resets",
            lambda ctx, persona: Request("POST", "/v1/password-resets", json={"identifier": phone()}),
            ok=frozenset({429}),
        ),
        Probe(
            "identity",
            "POST",
            "/v1/password-resets/confirm",
            lambda ctx, persona: Request(
                "POST",
                "/v1/password-resets/confirm",
                json={"identifier": phone(), "code": "123456", "new_password": PASSWORD},
            ),
            ok=frozenset({400, 429}),
        ),
        _account_probe(
            "POST",
            "/v1/accounts/{user_id}/deactivate",
            "student of school A",
            STUDENT_A,
            lambda ctx: ctx.account(f"student@{SCHOOL_A}"),
        ),
        _account_probe(
            "POST",
            "/v1/accounts/{user_id}/deactivate",
            "member of A, county admin in Guangdong",
            TWO_SUBTREES,
            lambda ctx: ctx.account(f"student@{SCHOOL_A}", f"county_admin@{COUNTY_OUT}"),
        ),
        _account_probe(
            "POST",
            "/v1/accounts/{user_id}/deactivate",
            "ministry admin who is a member of A",
            MINISTRY_MEMBER,
            lambda ctx: ctx.account("ministry_admin", f"student@{SCHOOL_A}"),
        ),
        Probe("identity", "GET", "/v1/orgs", _get("/v1/orgs")),
        Probe("identity", "GET", "/v1/orgs/{path:path}", _get(f"/v1/orgs/{SCHOOL_A}"), targets=[SCHOOL_A]),
        Probe(
            "identity",
            "POST",
            "/v1/orgs",
            lambda ctx, persona: Request(
                "POST",
                "/v1/orgs",
                json={
                    "parent": COUNTY_IN,
                    "code": f"school-430102{uuid.uuid4().int % 10**6:06d}",
                    "name": "芙蓉区新建小学",
                    "level": "school",
                },
            ),
            targets=[COUNTY_IN],
        ),
        _grant_probe(
            "/v1/role-grants",
            "student of A to an unaffiliated account",
            "student",
            SCHOOL_A,
            UNAFFILIATED,
            lambda ctx: ctx.account(),
        ),
        _grant_probe(
            "/v1/role-grants",
            "student of A to a student of Guangdong",
            "student",
            SCHOOL_A,
            OF_G,
            lambda ctx: ctx.account(f"student@{SCHOOL_G}"),
        ),
        _grant_probe(
            "/v1/role-grants",
            "student of A to a ministry admin",
            "student",
            SCHOOL_A,
            Target((None,), LEVEL["ministry_admin"]),
            lambda ctx: ctx.account("ministry_admin"),
        ),
        _grant_probe(
            "/v1/role-grants",
            "school admin of A",
            "school_admin",
            SCHOOL_A,
            UNAFFILIATED,
            lambda ctx: ctx.account(kind="teacher"),
        ),
        _grant_probe(
            "/v1/role-grants",
            "ministry admin",
            "ministry_admin",
            None,
            UNAFFILIATED,
            lambda ctx: ctx.account(kind="teacher"),
        ),
        _grant_probe(
            "/v1/role-revocations",
            "student of A from a student of A",
            "student",
            SCHOOL_A,
            STUDENT_A,
            lambda ctx: ctx.account(f"student@{SCHOOL_A}"),
        ),
        _grant_probe(
            "/v1/role-revocations",
            "student of A from a county admin in Guangdong",
            "student",
            SCHOOL_A,
            TWO_SUBTREES,
            lambda ctx: ctx.account(f"student@{SCHOOL_A}", f"county_admin@{COUNTY_OUT}"),
        ),
        Probe("identity", "GET", "/v1/accounts/me/invitations", _get("/v1/accounts/me/invitations")),
        # the caller's own invitations only: none here, so an authorized caller learns 404
        Probe("identity", "POST", "/v1/accounts/me/invitations/accept", _post(*invitation("accept")), ok=missing),
        Probe("identity", "POST", "/v1/accounts/me/invitations/decline", _post(*invitation("decline")), ok=missing),
        Probe("identity", "POST", "/v1/admin/signing-keys/rotate", _post("/v1/admin/signing-keys/rotate")),
        # a backfill may still be running from an earlier cell: 409 backfill_running is the same authorization
        Probe(
            "identity",
            "POST",
            "/v1/admin/account-snapshots",
            _post("/v1/admin/account-snapshots"),
            ok=frozenset({409}),
        ),
        Probe("identity", "GET", "/v1/admin/account-snapshots", _get("/v1/admin/account-snapshots")),
        Probe(
            "identity",
            "POST",
            "/v1/teacher-verifications",
            lambda ctx, persona: Request(
                "POST",
                "/v1/teacher-verifications",
                json={"national_id": ctx.p.teacher_nid if persona == "teacher" else national_id()},
            ),
        ),
        Probe(
            "identity",
            "POST",
            "/v1/guardian-links",
            lambda ctx, persona: Request(
                "POST", "/v1/guardian-links", json={"child_id": ctx.account(f"student@{SCHOOL_A}")}
            ),
        ),
        Probe(
            "identity",
            "POST",
            "/v1/guardian-links/{child_id}/{parent_id}/approve",
            lambda ctx, persona: Request("POST", "/v1/guardian-links/{}/{}/approve".format(*ctx.pending_link())),
        ),
        Probe(
            "identity",
            "POST",
            "/v1/oidc-clients",
            _post("/v1/oidc-clients", {"name": "市级平台", "redirect_uris": ["https://city.example.cn/cb"]}),
        ),
        Probe(
            "identity",
            "POST",
            "/v1/oidc-clients/{client_id}/deactivate",
            lambda ctx, persona: Request("POST", f"/v1/oidc-clients/{new_client(ctx)}/deactivate"),
        ),
        Probe(
            "identity",
            "POST",
            "/oauth2/consent",
            consent,
        ),
        Probe(
            "identity",
            "DELETE",
            "/oauth2/consent/{client_id}",
            # a client the caller never consented to: an authorized caller learns 404 consent_not_found
            lambda ctx, persona: Request("DELETE", f"/oauth2/consent/{new_client(ctx)}"),
            ok=missing,
        ),
        # subscriber systems (docs/SUBSCRIBERS.md): a ministry admin registers them; an unknown one is 404 to it
        Probe(
            "identity",
            "POST",
            "/v1/subscribers",
            _post(
                "/v1/subscribers",
                {
                    "name": "省级平台",
                    "kind": "province",
                    "provinces": ["43"],
                    "event_types": ["cn.smartedu.catalog.resource.published.v2"],
                },
            ),
        ),
        Probe("identity", "GET", "/v1/subscribers", _get("/v1/subscribers")),
        Probe(
            "identity", "GET", "/v1/subscribers/{subscriber_id}", _get(f"/v1/subscribers/{NO_SUBSCRIBER}"), ok=missing
        ),
        Probe(
            "identity",
            "POST",
            "/v1/subscribers/{subscriber_id}/deactivate",
            _post(f"/v1/subscribers/{NO_SUBSCRIBER}/deactivate"),
            ok=missing,
        ),
        Probe(
            "identity",
            "POST",
            "/v1/subscribers/{subscriber_id}/replays",
            _post(f"/v1/subscribers/{NO_SUBSCRIBER}/replays", REPLAY),
            ok=missing,
        ),
        Probe(
            "identity",
            "GET",
            "/v1/subscribers/{subscriber_id}/replays/{replay_id}",
            _get(f"/v1/subscribers/{NO_SUBSCRIBER}/replays/r1"),
            ok=missing,
        ),
        # the subscriber's own routes: HTTP Basic as the subscriber; no user's token counts (401 for every persona)
        Probe("identity", "GET", "/v1/feeds/{subscriber_id}/changes", _get(f"/v1/feeds/{NO_SUBSCRIBER}/changes")),
        Probe(
            "identity", "POST", "/v1/feeds/{subscriber_id}/replays", _post(f"/v1/feeds/{NO_SUBSCRIBER}/replays", REPLAY)
        ),
        Probe(
            "identity",
            "GET",
            "/v1/feeds/{subscriber_id}/replays/{replay_id}",
            _get(f"/v1/feeds/{NO_SUBSCRIBER}/replays/r1"),
        ),
        Probe("identity", "GET", "/.well-known/jwks.json", _get("/.well-known/jwks.json")),
        Probe("identity", "GET", "/.well-known/openid-configuration", _get("/.well-known/openid-configuration")),
        Probe("identity", "GET", "/oauth2/authorize", authorize),
        Probe(
            "identity",
            "POST",
            "/oauth2/token",
            lambda ctx, persona: Request(
                "POST",
                "/oauth2/token",
                content=b"grant_type=authorization_code&code=abc&redirect_uri=https%3A%2F%2Frp.example.cn%2Fcb",
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            ),
        ),
        Probe("identity", "GET", "/oauth2/userinfo", _get("/oauth2/userinfo")),
        Probe("identity", "GET", "/oauth2/logout", _get("/oauth2/logout")),
    ]


def _catalog_probes() -> list[Probe]:
    def on(state: str, action: str, body: Any = None) -> Builder:
        return lambda ctx, persona: Request("POST", f"/v1/resources/{ctx.resource(state)}/{action}", json=body)

    shared_draft = lambda ctx: ctx.shared("draft", ctx.resource)  # noqa: E731
    line = lambda: orjson.dumps({"type": "resource", **draft()})  # noqa: E731
    provider = [PROVIDER_IN]
    missing = frozenset({404})
    why = {"reason": "版权到期"}
    return [
        Probe("catalog", "GET", "/v1/sections", _get("/v1/sections")),
        Probe("catalog", "GET", "/v1/reference", _get("/v1/reference")),
        Probe("catalog", "GET", "/v1/tree/versions", _get("/v1/tree/versions")),
        Probe("catalog", "GET", "/v1/tree/nodes/{node_id:path}", _get("/v1/tree/nodes/v-none"), ok=missing),
        Probe("catalog", "GET", "/v1/resources", _get("/v1/resources", limit=5)),
        Probe("catalog", "GET", "/v1/resources/{rid}", _get("/v1/resources/r-none"), ok=missing),
        Probe("catalog", "GET", "/v1/search", _get("/v1/search", q="分数")),
        Probe("catalog", "GET", "/v1/changes", _get("/v1/changes", limit=5)),
        Probe(
            "catalog",
            "POST",
            "/v1/resources",
            lambda ctx, persona: Request("POST", "/v1/resources", json=draft()),
            targets=provider,
        ),
        Probe(
            "catalog",
            "GET",
            "/v1/resources/{rid}/working",
            lambda ctx, persona: Request("GET", f"/v1/resources/{shared_draft(ctx)}/working"),
            targets=provider,
        ),
        Probe(
            "catalog",
            "PUT",
            "/v1/resources/{rid}",
            lambda ctx, persona: Request("PUT", f"/v1/resources/{shared_draft(ctx)}", json=CONTENT),
            targets=provider,
        ),
        Probe("catalog", "POST", "/v1/resources/{rid}/submit", on("draft", "submit"), targets=provider),
        Probe("catalog", "POST", "/v1/resources/{rid}/publish", on("in_review", "publish"), targets=provider),
        Probe("catalog", "POST", "/v1/resources/{rid}/reject", on("in_review", "reject", why), targets=provider),
        Probe("catalog", "POST", "/v1/resources/{rid}/withdraw", on("published", "withdraw", why), targets=provider),
        Probe(
            "catalog",
            "POST",
            "/v1/exercises",
            lambda ctx, persona: Request("POST", "/v1/exercises", json=exercise_body(ctx.lesson())),
            targets=provider,
        ),
        Probe(
            "catalog",
            "PUT",
            "/v1/exercises/{eid}",
            lambda ctx, persona: Request("PUT", f"/v1/exercises/{ctx.exercise()}", json=exercise_content(ctx.lesson())),
            targets=provider,
        ),
        Probe(
            "catalog",
            "POST",
            "/v1/exercises/{eid}/withdraw",
            lambda ctx, persona: Request("POST", f"/v1/exercises/{ctx.exercise()}/withdraw", json=why),
            targets=provider,
        ),
        Probe("catalog", "GET", "/v1/exercises/{eid}", _get("/v1/exercises/ex-none"), ok=missing),
        Probe(
            "catalog",
            "POST",
            "/v1/import",
            lambda ctx, persona: Request(
                "POST", "/v1/import", content=line(), headers={"Content-Type": "application/x-ndjson"}
            ),
        ),
    ]


def _viewstats_probes() -> list[Probe]:
    course = frozenset({404})
    return [
        Probe("viewstats", "GET", "/v1/stats/totals", _get("/v1/stats/totals")),
        Probe("viewstats", "GET", "/v1/stats/series", _get("/v1/stats/series")),
        Probe(
            "viewstats",
            "GET",
            "/v1/stats/series/{dimension}/{value}",
            _get("/v1/stats/series/province/43"),
            name="province 43",
            targets=[PROVINCE_OF_A],
        ),
        Probe(
            "viewstats",
            "GET",
            "/v1/stats/series/{dimension}/{value}",
            _get("/v1/stats/series/section/course_teaching"),
            name="national section",
            targets=[None],
        ),
        Probe("viewstats", "GET", "/v1/stats/rate", _get("/v1/stats/rate")),
        Probe("viewstats", "GET", "/v1/stats/top", _get("/v1/stats/top")),
        Probe(
            "viewstats",
            "GET",
            "/v1/stats/provinces",
            _get("/v1/stats/provinces"),
        ),
        Probe("viewstats", "GET", "/v1/stats/countries", _get("/v1/stats/countries")),
        Probe(
            "viewstats",
            "GET",
            "/v1/stats/growth",
            _get("/v1/stats/growth", start="2026-01-01", end="2026-01-31", province="43"),
            name="province 43",
            targets=[PROVINCE_OF_A],
        ),
        Probe(
            "viewstats",
            "GET",
            "/v1/stats/growth",
            _get("/v1/stats/growth", start="2026-01-01", end="2026-01-31"),
            name="national",
            targets=[None],
        ),
        Probe(
            "viewstats",
            "GET",
            "/v1/stats/uniques",
            _get("/v1/stats/uniques", province="43"),
            name="province 43",
            targets=[PROVINCE_OF_A],
        ),
        Probe("viewstats", "GET", "/v1/stats/uniques", _get("/v1/stats/uniques"), name="national", targets=[None]),
        Probe("viewstats", "GET", "/dashboard", _get("/dashboard")),
        Probe("viewstats", "GET", "/v1/learning/courses/{resource_id}", _get("/v1/learning/courses/r0"), ok=course),
        Probe("viewstats", "GET", "/v1/learning/me/courses/{resource_id}", _get("/v1/learning/me/courses/r0")),
        Probe("viewstats", "GET", "/v1/learning/me/hours", _get("/v1/learning/me/hours")),
        Probe(
            "viewstats",
            "GET",
            "/v1/learning/teachers/{user_id}/hours",
            lambda ctx, persona: Request("GET", f"/v1/learning/teachers/{ctx.p.personas['teacher'].user_id}/hours"),
        ),
        Probe(
            "viewstats",
            "GET",
            "/v1/learning/me/certificates/{certificate_id}/pdf",
            _get("/v1/learning/me/certificates/SE-0000-0000-0000-0000/pdf"),
            ok=course,
        ),
        Probe("viewstats", "GET", "/v1/certificates/{certificate_id}", _get("/v1/certificates/SE-0000-0000-0000-0000")),
        Probe(
            "collector",
            "POST",
            "/v1/views",
            lambda ctx, persona: Request(
                "POST",
                "/v1/views",
                json={
                    "event_id": str(uuid.uuid4()),
                    "resource_id": "r-adv",
                    "section": "course_teaching",
                    "visitor_id": "v1",
                },
            ),
        ),
        Probe(
            "collector",
            "POST",
            "/v1/heartbeats",
            lambda ctx, persona: Request(
                "POST", "/v1/heartbeats", json={"event_id": str(uuid.uuid4()), "resource_id": "r-adv", "seconds": 30}
            ),
        ),
        Probe("recommender", "GET", "/v1/candidates/{resource_id}", _get("/v1/candidates/r-none"), ok=course),
    ]


def _recommender_probes() -> list[Probe]:
    """A student sees only their own notebook and a teacher only their classes' figures: the routes take no user
    id (the token's subject is the user), so the matrix checks who may call them at all."""
    unknown_exercise = frozenset({422})  # a student's answer to an exercise that does not exist: authorized
    answers = lambda ctx, persona: Request(  # noqa: E731
        "POST",
        "/v1/me/answers",
        json={"submission_id": uuid.uuid4().hex, "answers": [{"exercise_id": "ex-none", "choices": ["A"]}]},
    )
    profile = {"grade": 5, "textbook_versions": ["tv.pep.primary.math"], "subjects": ["math"], "province": "43"}
    return [
        Probe("recommender", "POST", "/v1/me/answers", answers, ok=unknown_exercise),
        Probe("recommender", "GET", "/v1/me/notebook", _get("/v1/me/notebook")),
        Probe(
            "recommender",
            "GET",
            "/v1/teachers/me/missed-knowledge-points",
            _get("/v1/teachers/me/missed-knowledge-points"),
        ),
        Probe("recommender", "GET", "/v1/me/profile", _get("/v1/me/profile")),
        Probe(
            "recommender", "PUT", "/v1/me/profile", lambda ctx, persona: Request("PUT", "/v1/me/profile", json=profile)
        ),
        Probe("recommender", "GET", "/v1/me/recommendations", _get("/v1/me/recommendations")),
        Probe(
            "recommender",
            "GET",
            "/v1/resources/{resource_id}/similar",
            _get("/v1/resources/r-none/similar"),
            ok=frozenset({404}),
        ),
        Probe("recommender", "GET", "/v1/popular", _get("/v1/popular", province="43", grade=5)),
    ]


PROVINCE_OF_A = "cn/43"


# --- class groups: object-level rules, inside (class of school A, the personas' class) and outside (school G) ----
ADMINS_OF_A = frozenset({"school_admin_in", "county_admin_in", "province_admin_in", "ministry_admin"})
ADMINS_OF_G = frozenset({"school_admin_out", "county_admin_out", "province_admin_out", "ministry_admin"})


class Classes:
    """Classes the class-groups probes act on, built through the public APIs. The service learns accounts from
    identity's events, so each step waits until it has (polling the API that depends on it)."""

    def __init__(self, ctx: Ctx) -> None:
        self.ctx = ctx

    def _call(self, persona: str, method: str, url: str, **kw: Any) -> httpx.Response:
        headers = {**kw.pop("headers", {}), **self.ctx.p.personas[persona].headers}
        return self.ctx.http["classgroups"].request(method, url, headers=headers, **kw)

    def _until(self, attempt: Callable[[], httpx.Response], ok: Callable[[httpx.Response], bool]) -> httpx.Response:
        import time

        deadline = time.monotonic() + 60
        while True:
            r = attempt()
            if ok(r) or time.monotonic() > deadline:
                assert ok(r), r.text
                return r
            time.sleep(0.3)

    def administrative(self, school: str = SCHOOL_A, year: int = 2026) -> str:
        body = {"school": school, "school_year": year, "grade": 5, "name": f"{year}级{uuid.uuid4().hex[:4]}班"}
        r = self._call("ministry_admin", "POST", "/v1/administrative-classes", json=body)
        assert r.status_code == 201, r.text
        return r.json()["id"]

    def roster(self, class_id: str, account_id: str) -> None:
        headers = {"Content-Type": "application/x-ndjson"}
        line = orjson.dumps({"account_id": account_id})
        self._until(
            lambda: self._call(
                "ministry_admin", "POST", f"/v1/classes/{class_id}/roster", content=line, headers=headers
            ),
            lambda r: r.status_code == 200 and (r.json()["added"] + r.json()["already"]) == 1,
        )

    def ours(self) -> str:
        """Class of school A: the teacher persona its head teacher, the student persona on its roster, the parent
        persona the student's guardian."""

        def make() -> str:
            p = self.ctx.p.personas
            cid = self.administrative(year=2026)
            self.roster(cid, p["student"].user_id)
            self._until(
                lambda: self._call(
                    "ministry_admin",
                    "PUT",
                    f"/v1/classes/{cid}/teachers",
                    json={"head_teacher_id": p["teacher"].user_id},
                ),
                lambda r: r.status_code == 200,
            )
            identity = self.ctx.http["identity"]
            r = identity.post(
                "/v1/guardian-links", json={"child_id": p["student"].user_id}, headers=p["parent"].headers
            )
            assert r.status_code in (201, 409), r.text
            r = identity.post(
                f"/v1/guardian-links/{p['student'].user_id}/{p['parent'].user_id}/approve", headers=self.ctx.ministry
            )
            assert r.status_code in (200, 409), r.text
            self._until(
                lambda: self._call("parent", "GET", f"/v1/students/{p['student'].user_id}/classes"),
                lambda r: r.status_code == 200 and cid in [c["id"] for c in r.json()],
            )
            return cid

        return self.ctx.shared("class-ours", make)

    def theirs(self) -> str:
        """Class of school G (Guangdong): none of the personas' relations reach it."""
        return self.ctx.shared("class-theirs", lambda: self.administrative(SCHOOL_G, 2026))

    def online(self, *, approval: bool = False, student: str | None = None) -> str:
        """A new online class of the teacher persona; ``student``: "invited", "member" or "pending"."""
        r = self._until(
            lambda: self._call(
                "teacher", "POST", "/v1/online-classes", json={"name": "课外阅读", "approval_required": approval}
            ),
            lambda r: r.status_code == 201,
        )
        cid = r.json()["id"]
        sid = self.ctx.p.personas["student"].user_id
        if student in ("invited", "member"):
            r = self._call("teacher", "POST", f"/v1/classes/{cid}/invitations", json={"account_id": sid})
            assert r.status_code == 201, r.text
        if student == "member":
            assert self._call("student", "POST", f"/v1/classes/{cid}/invitation/accept").status_code == 200
        if student == "pending":
            r = self._call("student", "POST", "/v1/joins", json={"code": self.code(cid)})
            assert r.status_code == 200 and r.json()["status"] == "pending", r.text
        return cid

    def announcement(self) -> str:
        """An announcement of the head teacher (the teacher persona) in the personas' class."""
        ours = self.ours()  # outside the shared() below: its lock is not re-entrant

        def make() -> str:
            body = {"title": "家长会", "body": "周五下午三点。"}
            r = self._call("teacher", "POST", f"/v1/classes/{ours}/announcements", json=body)
            assert r.status_code == 201, r.text
            return r.json()["id"]

        return self.ctx.shared("announcement", make)

    def leave(self, days_ahead: int = 2) -> str:
        """A leave request of the student persona in the personas' class, starting ``days_ahead`` days from now."""
        r = self._call("student", "POST", f"/v1/classes/{self.ours()}/leaves", json=leave_body(self.ctx, days_ahead))
        assert r.status_code == 201, r.text
        return r.json()["id"]

    def poll(self) -> str:
        """A new quick poll of the head teacher in the personas' class."""
        body = {"question": "喜欢哪种水果？", "options": ["苹果", "橘子"]}
        r = self._call("teacher", "POST", f"/v1/classes/{self.ours()}/polls", json=body)
        assert r.status_code == 201, r.text
        return r.json()["id"]

    def code(self, class_id: str) -> str:
        r = self._call("teacher", "POST", f"/v1/classes/{class_id}/codes", json={})
        assert r.status_code == 201, r.text
        return r.json()["code"]


def leave_body(ctx: Ctx, days_ahead: int = 2) -> dict[str, Any]:
    from datetime import timedelta

    day = (date.today() + timedelta(days=days_ahead)).isoformat()
    student = ctx.p.personas["student"].user_id
    return {"student_id": student, "kind": "sick", "first_day": day, "last_day": day, "reason": "感冒"}


def _classgroups_probes() -> list[Probe]:
    def on(path: str, method: str = "GET", body: Any = None, **kw: Any) -> Builder:
        """``path`` with ``{ours}``/``{theirs}``/``{student}`` filled in when the cell runs."""

        def build(ctx: Ctx, persona: str) -> Request:
            c = Classes(ctx)
            names = {"student": ctx.p.personas["student"].user_id}
            if "{leave}" in path:
                names["leave"] = c.leave()
            if "{poll}" in path:
                names["poll"] = c.poll()
            if "{ours}" in path:
                names["ours"] = c.ours()
            if "{theirs}" in path:
                names["theirs"] = c.theirs()
            if "{announcement}" in path:
                names["announcement"] = c.announcement()
            payload = body(ctx) if callable(body) else body
            return Request(method, path.format(**names), json=payload, **kw)

        return build

    def fresh(make: Callable[[Classes], tuple[str, Any]], method: str = "POST") -> Builder:
        def build(ctx: Ctx, persona: str) -> Request:
            url, body = make(Classes(ctx))
            if isinstance(body, bytes):
                return Request(method, url, content=body, headers={"Content-Type": "application/x-ndjson"})
            return Request(method, url, json=body)

        return build

    def student(ctx_classes: Classes) -> str:
        return ctx_classes.ctx.p.personas["student"].user_id

    teacher, student_p, parent = frozenset({"teacher"}), frozenset({"student"}), frozenset({"parent"})
    unknown_line = orjson.dumps({"account_id": "u-nobody"})
    no_teachers = {"head_teacher_id": None, "subject_teachers": []}
    deny = frozenset({403, 404})
    return [
        Probe(
            "classgroups",
            "POST",
            "/v1/administrative-classes",
            _post("/v1/administrative-classes", {"school": SCHOOL_A, "school_year": 2026, "grade": 3, "name": "3班"}),
            targets=[SCHOOL_A],
        ),
        Probe(
            "classgroups",
            "GET",
            "/v1/administrative-classes",
            _get("/v1/administrative-classes", school=SCHOOL_A),
            targets=[SCHOOL_A],
        ),
        Probe(
            "classgroups",
            "PUT",
            "/v1/classes/{class_id}/teachers",
            fresh(lambda c: (f"/v1/classes/{c.administrative()}/teachers", no_teachers), "PUT"),
            name="class of A",
            related=ADMINS_OF_A,
            denied=deny,
        ),
        Probe(
            "classgroups",
            "PUT",
            "/v1/classes/{class_id}/teachers",
            fresh(lambda c: (f"/v1/classes/{c.administrative(SCHOOL_G)}/teachers", no_teachers), "PUT"),
            name="class of G",
            related=ADMINS_OF_G,
            denied=deny,
        ),
        Probe(
            "classgroups",
            "POST",
            "/v1/classes/{class_id}/roster",
            fresh(lambda c: (f"/v1/classes/{c.administrative()}/roster", unknown_line)),
            name="class of A",
            related=ADMINS_OF_A,
            denied=deny,
        ),
        Probe(
            "classgroups",
            "POST",
            "/v1/classes/{class_id}/roster",
            fresh(lambda c: (f"/v1/classes/{c.administrative(SCHOOL_G)}/roster", unknown_line)),
            name="class of G",
            related=ADMINS_OF_G,
            denied=deny,
        ),
        Probe(
            "classgroups",
            "DELETE",
            "/v1/classes/{class_id}/members/{account_id}",
            # someone not on the roster: an authorized caller learns 409 not_member, and the roster is unchanged
            on("/v1/classes/{ours}/members/u-nobody", "DELETE"),
            name="class of A",
            related=ADMINS_OF_A,
            ok=frozenset({409}),
            denied=deny,
        ),
        Probe(
            "classgroups",
            "DELETE",
            "/v1/classes/{class_id}/members/{account_id}",
            fresh(lambda c: (f"/v1/classes/{c.online(student='member')}/members/{student(c)}", None), "DELETE"),
            name="online class of the teacher",
            related=frozenset({"teacher", "ministry_admin"}),
            denied=deny,
        ),
        Probe(
            "classgroups",
            "GET",
            "/v1/classes/{class_id}",
            on("/v1/classes/{ours}"),
            name="class of A",
            related=ADMINS_OF_A | teacher | student_p | parent,
            denied=deny,
        ),
        Probe(
            "classgroups",
            "GET",
            "/v1/classes/{class_id}",
            on("/v1/classes/{theirs}"),
            name="class of G",
            related=ADMINS_OF_G,
            denied=deny,
        ),
        Probe(
            "classgroups",
            "GET",
            "/v1/classes/{class_id}/members",
            on("/v1/classes/{ours}/members"),
            name="class of A",
            related=ADMINS_OF_A | teacher | student_p,
            denied=deny,
        ),
        Probe(
            "classgroups",
            "GET",
            "/v1/classes/{class_id}/members",
            on("/v1/classes/{theirs}/members"),
            name="class of G",
            related=ADMINS_OF_G,
            denied=deny,
        ),
        Probe("classgroups", "GET", "/v1/me/classes", _get("/v1/me/classes")),
        Probe(
            "classgroups",
            "GET",
            "/v1/students/{student_id}/classes",
            on("/v1/students/{student}/classes"),
            related=student_p | parent,
            denied=deny,
        ),
        Probe(
            "classgroups",
            "POST",
            "/v1/online-classes",
            _post("/v1/online-classes", {"name": "网络班"}),
            related=teacher,
        ),
        Probe(
            "classgroups",
            "POST",
            "/v1/classes/{class_id}/codes",
            fresh(lambda c: (f"/v1/classes/{c.online()}/codes", {})),
            related=teacher,
            denied=deny,
        ),
        Probe(
            "classgroups",
            "DELETE",
            "/v1/classes/{class_id}/codes/{code}",
            fresh(lambda c: (f"/v1/classes/{(cid := c.online())}/codes/{c.code(cid)}", None), "DELETE"),
            related=teacher,
            denied=deny,
        ),
        Probe(
            "classgroups",
            "POST",
            "/v1/joins",
            fresh(lambda c: ("/v1/joins", {"code": c.code(c.online())})),
        ),
        Probe(
            "classgroups",
            "POST",
            "/v1/classes/{class_id}/invitations",
            fresh(lambda c: (f"/v1/classes/{c.online()}/invitations", {"account_id": student(c)})),
            related=teacher,
            denied=deny,
        ),
        Probe(
            "classgroups",
            "POST",
            "/v1/classes/{class_id}/invitation/accept",
            fresh(lambda c: (f"/v1/classes/{c.online(student='invited')}/invitation/accept", None)),
            related=student_p,
            denied=deny,
        ),
        Probe(
            "classgroups",
            "POST",
            "/v1/classes/{class_id}/invitation/decline",
            fresh(lambda c: (f"/v1/classes/{c.online(student='invited')}/invitation/decline", None)),
            related=student_p,
            denied=deny,
        ),
        Probe(
            "classgroups",
            "POST",
            "/v1/classes/{class_id}/members/{account_id}/approve",
            fresh(
                lambda c: (
                    f"/v1/classes/{c.online(approval=True, student='pending')}/members/{student(c)}/approve",
                    None,
                )
            ),
            related=teacher,
            denied=deny,
        ),
        Probe(
            "classgroups",
            "POST",
            "/v1/classes/{class_id}/members/{account_id}/reject",
            fresh(
                lambda c: (
                    f"/v1/classes/{c.online(approval=True, student='pending')}/members/{student(c)}/reject",
                    None,
                )
            ),
            related=teacher,
            denied=deny,
        ),
        Probe(
            "classgroups",
            "POST",
            "/v1/classes/{class_id}/leave",
            fresh(lambda c: (f"/v1/classes/{c.online(student='member')}/leave", None)),
            related=student_p,
            denied=deny,
        ),
        Probe(
            "classgroups",
            "POST",
            "/v1/classes/{class_id}/transfer",
            # to the owner itself (the tier has one verified teacher): the owner learns 409 same_owner
            fresh(lambda c: (f"/v1/classes/{c.online()}/transfer", {"to": c.ctx.p.personas["teacher"].user_id})),
            related=teacher,
            ok=frozenset({409}),
            denied=deny,
        ),
        Probe(
            "classgroups",
            "POST",
            "/v1/classes/{class_id}/announcements",
            on("/v1/classes/{ours}/announcements", "POST", {"title": "通知", "body": "明天升旗。"}),
            name="class of A",
            related=teacher,
            denied=deny,
        ),
        Probe(
            "classgroups",
            "POST",
            "/v1/classes/{class_id}/announcements",
            on("/v1/classes/{theirs}/announcements", "POST", {"title": "通知", "body": "明天升旗。"}),
            name="class of G",
            denied=deny,
        ),
        Probe(
            "classgroups",
            "GET",
            "/v1/classes/{class_id}/announcements",
            on("/v1/classes/{ours}/announcements"),
            name="class of A",
            related=ADMINS_OF_A | teacher | student_p | parent,
            denied=deny,
        ),
        Probe(
            "classgroups",
            "GET",
            "/v1/classes/{class_id}/announcements",
            on("/v1/classes/{theirs}/announcements"),
            name="class of G",
            related=ADMINS_OF_G,
            denied=deny,
        ),
        Probe(
            "classgroups",
            "POST",
            "/v1/classes/{class_id}/announcements/{announcement_id}/read",
            on("/v1/classes/{ours}/announcements/{announcement}/read", "POST"),
            related=student_p | parent,
            denied=deny,
        ),
        Probe(
            "classgroups",
            "GET",
            "/v1/classes/{class_id}/announcements/{announcement_id}/receipts",
            on("/v1/classes/{ours}/announcements/{announcement}/receipts"),
            related=ADMINS_OF_A | teacher,
            denied=deny,
        ),
        Probe(
            "classgroups",
            "POST",
            "/v1/classes/{class_id}/leaves",
            on("/v1/classes/{ours}/leaves", "POST", leave_body),
            name="class of A",
            related=student_p | parent,
            denied=deny,
        ),
        Probe(
            "classgroups",
            "POST",
            "/v1/classes/{class_id}/leaves",
            on("/v1/classes/{theirs}/leaves", "POST", leave_body),
            name="class of G",
            denied=deny,
        ),
        Probe(
            "classgroups",
            "POST",
            "/v1/classes/{class_id}/leave-uploads",
            on(
                "/v1/classes/{ours}/leave-uploads",
                "POST",
                lambda ctx: {"student_id": ctx.p.personas["student"].user_id, "content_type": "image/jpeg", "size": 1},
            ),
            related=student_p | parent,
            denied=deny,
        ),
        Probe(
            "classgroups",
            "GET",
            "/v1/classes/{class_id}/leaves",
            on("/v1/classes/{ours}/leaves"),
            related=ADMINS_OF_A | teacher,
            denied=deny,
        ),
        Probe(
            "classgroups",
            "POST",
            "/v1/classes/{class_id}/leaves/{leave_id}/approve",
            on("/v1/classes/{ours}/leaves/{leave}/approve", "POST", {}),
            related=teacher,
            denied=deny,
        ),
        Probe(
            "classgroups",
            "POST",
            "/v1/classes/{class_id}/leaves/{leave_id}/reject",
            on("/v1/classes/{ours}/leaves/{leave}/reject", "POST", {}),
            related=teacher,
            denied=deny,
        ),
        Probe(
            "classgroups",
            "POST",
            "/v1/classes/{class_id}/leaves/{leave_id}/cancel",
            on("/v1/classes/{ours}/leaves/{leave}/cancel", "POST"),
            related=student_p | parent,
            denied=deny,
        ),
        Probe(
            "classgroups",
            "GET",
            "/v1/classes/{class_id}/away-today",
            on("/v1/classes/{ours}/away-today"),
            name="class of A",
            related=ADMINS_OF_A | teacher,
            denied=deny,
        ),
        Probe(
            "classgroups",
            "GET",
            "/v1/classes/{class_id}/away-today",
            on("/v1/classes/{theirs}/away-today"),
            name="class of G",
            related=ADMINS_OF_G,
            denied=deny,
        ),
        Probe(
            "classgroups",
            "GET",
            "/v1/students/{student_id}/leaves",
            on("/v1/students/{student}/leaves"),
            related=student_p | parent,
            denied=deny,
        ),
        Probe(
            "classgroups",
            "PUT",
            "/v1/classes/{class_id}/leave-delegate",
            on("/v1/classes/{ours}/leave-delegate", "PUT", {"teacher_id": None}),
            related=teacher,
            denied=deny,
        ),
        Probe(
            "classgroups",
            "POST",
            "/v1/classes/{class_id}/evaluations",
            on(
                "/v1/classes/{ours}/evaluations",
                "POST",
                lambda ctx: {
                    "student_id": ctx.p.personas["student"].user_id,
                    "dimension": "labour",
                    "points": 2,
                    "comment": "值日认真",
                },
            ),
            related=teacher,
            denied=deny,
        ),
        Probe(
            "classgroups",
            "GET",
            "/v1/classes/{class_id}/evaluations/summary",
            on("/v1/classes/{ours}/evaluations/summary"),
            name="class of A",
            related=ADMINS_OF_A | teacher,
            denied=deny,
        ),
        Probe(
            "classgroups",
            "GET",
            "/v1/classes/{class_id}/evaluations/summary",
            on("/v1/classes/{theirs}/evaluations/summary"),
            name="class of G",
            related=ADMINS_OF_G,
            denied=deny,
        ),
        Probe(
            "classgroups",
            "GET",
            "/v1/students/{student_id}/evaluations",
            on("/v1/students/{student}/evaluations"),
            related=student_p | parent,
            denied=deny,
        ),
        Probe(
            "classgroups",
            "GET",
            "/v1/students/{student_id}/evaluations/chart.svg",
            on("/v1/students/{student}/evaluations/chart.svg"),
            related=student_p | parent,
            denied=deny,
        ),
        Probe(
            "classgroups",
            "POST",
            "/v1/classes/{class_id}/roll-calls",
            on("/v1/classes/{ours}/roll-calls", "POST"),
            name="class of A",
            related=teacher,
            denied=deny,
        ),
        Probe(
            "classgroups",
            "POST",
            "/v1/classes/{class_id}/roll-calls",
            on("/v1/classes/{theirs}/roll-calls", "POST"),
            name="class of G",
            denied=deny,
        ),
        Probe(
            "classgroups",
            "POST",
            "/v1/classes/{class_id}/polls",
            on("/v1/classes/{ours}/polls", "POST", {"question": "今天开心吗？", "options": ["开心", "一般"]}),
            related=teacher,
            denied=deny,
        ),
        Probe(
            "classgroups",
            "POST",
            "/v1/classes/{class_id}/polls/{poll_id}/votes",
            on("/v1/classes/{ours}/polls/{poll}/votes", "POST", {"choices": [0]}),
            related=student_p,
            denied=deny,
        ),
        Probe(
            "classgroups",
            "GET",
            "/v1/classes/{class_id}/polls/{poll_id}",
            on("/v1/classes/{ours}/polls/{poll}"),
            related=teacher | student_p,
            denied=deny,
        ),
        Probe(
            "classgroups",
            "POST",
            "/v1/classes/{class_id}/polls/{poll_id}/close",
            on("/v1/classes/{ours}/polls/{poll}/close", "POST"),
            related=teacher,
            denied=deny,
        ),
    ]


# --- class groups: check-ins and after-school courses (the checkins branch) ---------------------------------------
class Checkins:
    """Check-in tasks and courses the probes act on, made through the public APIs by the personas themselves."""

    def __init__(self, ctx: Ctx) -> None:
        self.ctx, self.classes = ctx, Classes(ctx)

    def _call(self, persona: str, method: str, url: str, **kw: Any) -> httpx.Response:
        return self.classes._call(persona, method, url, **kw)

    def task(self, name: str = "task") -> str:
        """A labour task of class A set by its head teacher (the teacher persona), text only."""

        cid = self.classes.ours()  # outside shared(): its lock is not reentrant

        def make() -> str:
            today = date.today()
            body = {
                "title": "家务劳动",
                "schedule": {
                    "kind": "daily",
                    "starts_on": str(today - timedelta(30)),
                    "ends_on": str(today + timedelta(30)),
                },
                "evidence": {"text": True, "photos": 0, "video": False},
                "labour": True,
            }
            r = self._call("teacher", "POST", f"/v1/classes/{cid}/checkin-tasks", json=body)
            assert r.status_code == 201, r.text
            return r.json()["task_id"]

        return self.ctx.shared(f"checkin-{name}", make)

    def submission(self) -> str:
        """The student persona's check-in of yesterday on a task of its own."""

        cid, task = self.classes.ours(), self.task("reviewed")  # outside shared(): its lock is not reentrant

        def make() -> str:
            body = {"day": str(date.today() - timedelta(1)), "text": "扫地"}
            r = self._call("student", "POST", f"/v1/classes/{cid}/checkin-tasks/{task}/submissions", json=body)
            assert r.status_code in (201, 409), r.text
            return f"{task}:{self.ctx.p.personas['student'].user_id}:{body['day']}:v1"

        return self.ctx.shared("checkin-submission", make)

    def course(self) -> str:
        self.classes.ours()  # the student persona in a grade-5 class of school A (outside shared(): not reentrant)

        def make() -> str:
            now = datetime.now(UTC)
            body = {
                "school": SCHOOL_A,
                "term": "2026-autumn",
                "title": "机器人社团",
                "capacity": 30,
                "slots": [{"weekday": 2, "starts": "16:00", "ends": "17:00"}],
                "grades": [5],
                "opens_at": (now - timedelta(days=1)).isoformat(),
                "closes_at": (now + timedelta(days=7)).isoformat(),
            }
            r = self._call("ministry_admin", "POST", "/v1/courses", json=body)
            assert r.status_code == 201, r.text
            return r.json()["course_id"]

        return self.ctx.shared("course", make)


def _checkins_probes() -> list[Probe]:
    readers = ADMINS_OF_A | frozenset({"teacher", "student", "parent"})
    submitters, teacher = frozenset({"student", "parent"}), frozenset({"teacher"})
    deny = frozenset({403, 404})

    def on(path: str, method: str = "GET", body: Callable[[Checkins], Any] | None = None) -> Builder:
        def build(ctx: Ctx, persona: str) -> Request:
            c = Checkins(ctx)
            names = {"student": ctx.p.personas["student"].user_id, "ours": c.classes.ours()}
            if "{theirs}" in path:
                names["theirs"] = c.classes.theirs()
            if "{task}" in path:
                names["task"] = c.task()
            if "{submission}" in path:
                names["submission"] = c.submission()
                names["task"] = c.task("reviewed")
            if "{course}" in path:
                names["course"] = c.course()
            return Request(method, path.format(**names), json=body(c) if body else None)

        return build

    week = (date.today() - timedelta(days=21)).isocalendar()
    past_week = f"{week[0]}-W{week[1]:02d}"
    task_body = {
        "title": "阅读打卡",
        "schedule": {"kind": "weekdays", "starts_on": str(date.today()), "ends_on": str(date.today() + timedelta(9))},
    }
    student_body = lambda c: {"student_id": c.ctx.p.personas["student"].user_id}  # noqa: E731
    base = "/v1/classes/{class_id}/checkin-tasks"
    return [
        Probe(
            "classgroups",
            "POST",
            base,
            on("/v1/classes/{ours}/checkin-tasks", "POST", lambda c: task_body),
            name="class of A",
            related=teacher,
            denied=deny,
        ),
        Probe(
            "classgroups",
            "POST",
            base,
            on("/v1/classes/{theirs}/checkin-tasks", "POST", lambda c: task_body),
            name="class of G",
            related=frozenset(),
            denied=deny,
        ),
        Probe(
            "classgroups",
            "GET",
            base,
            on("/v1/classes/{ours}/checkin-tasks"),
            name="class of A",
            related=readers,
            denied=deny,
        ),
        Probe(
            "classgroups",
            "GET",
            base,
            on("/v1/classes/{theirs}/checkin-tasks"),
            name="class of G",
            related=ADMINS_OF_G,
            denied=deny,
        ),
        Probe(
            "classgroups",
            "GET",
            base + "/{task_id}",
            on("/v1/classes/{ours}/checkin-tasks/{task}"),
            related=readers,
            denied=deny,
        ),
        Probe(
            "classgroups",
            "POST",
            base + "/{task_id}/uploads",
            on(
                "/v1/classes/{ours}/checkin-tasks/{task}/uploads",
                "POST",
                lambda c: {**student_body(c), "kind": "photo", "content_type": "image/jpeg", "size": 1000},
            ),
            related=submitters,
            denied=deny,
        ),
        # the student and the parent check in for the same child and day: one of them learns 409 (taken)
        Probe(
            "classgroups",
            "POST",
            base + "/{task_id}/submissions",
            on(
                "/v1/classes/{ours}/checkin-tasks/{task}/submissions",
                "POST",
                lambda c: {**student_body(c), "day": str(date.today()), "text": "读书"},
            ),
            related=submitters,
            ok=frozenset({409}),
            denied=deny,
        ),
        Probe(
            "classgroups",
            "GET",
            base + "/{task_id}/submissions",
            on("/v1/classes/{ours}/checkin-tasks/{task}/submissions"),
            related=readers,
            denied=deny,
        ),
        Probe(
            "classgroups",
            "POST",
            base + "/{task_id}/submissions/{submission_id}/reviews",
            on(
                "/v1/classes/{ours}/checkin-tasks/{task}/submissions/{submission}/reviews",
                "POST",
                lambda c: {"action": "comment", "comment": "很好"},
            ),
            related=teacher,
            denied=deny,
        ),
        Probe(
            "classgroups",
            "GET",
            base + "/{task_id}/progress/{student_id}",
            on("/v1/classes/{ours}/checkin-tasks/{task}/progress/{student}"),
            related=readers,
            denied=deny,
        ),
        Probe(
            "classgroups",
            "GET",
            base + "/{task_id}/leaderboard",
            on("/v1/classes/{ours}/checkin-tasks/{task}/leaderboard"),
            related=readers,
            denied=deny,
        ),
        Probe(
            "classgroups",
            "POST",
            "/v1/classes/{class_id}/labour-stars/{period}",
            on("/v1/classes/{ours}/labour-stars/" + past_week, "POST"),
            related=teacher,
            denied=deny,
        ),
        Probe(
            "classgroups",
            "GET",
            "/v1/classes/{class_id}/labour-stars",
            on("/v1/classes/{ours}/labour-stars"),
            related=readers,
            denied=deny,
        ),
    ]


def _courses_probes() -> list[Probe]:
    def course_body(ctx: Ctx, persona: str) -> Request:
        now = datetime.now(UTC)
        body = {
            "school": SCHOOL_A,
            "term": "2026-autumn",
            "title": "书法",
            "capacity": 20,
            "slots": [{"weekday": 4, "starts": "16:00", "ends": "17:30"}],
            "grades": [3, 4, 5],
            "opens_at": now.isoformat(),
            "closes_at": (now + timedelta(days=3)).isoformat(),
        }
        return Request("POST", "/v1/courses", json=body)

    def place(kind: str) -> Builder:
        def build(ctx: Ctx, persona: str) -> Request:
            c = Checkins(ctx)
            body = {"student_id": ctx.p.personas["student"].user_id}
            return Request("POST", f"/v1/courses/{c.course()}/{kind}", json=body)

        return build

    def course(suffix: str = "") -> Builder:
        return lambda ctx, persona: Request("GET", f"/v1/courses/{Checkins(ctx).course()}{suffix}")

    return [
        Probe("classgroups", "POST", "/v1/courses", course_body, targets=[SCHOOL_A]),
        Probe("classgroups", "GET", "/v1/courses", _get("/v1/courses", school=SCHOOL_A)),
        Probe("classgroups", "GET", "/v1/courses/{course_id}", course()),
        Probe("classgroups", "GET", "/v1/courses/{course_id}/roster", course("/roster"), targets=[SCHOOL_A]),
        Probe("classgroups", "POST", "/v1/courses/{course_id}/selections", place("selections")),
        Probe("classgroups", "POST", "/v1/courses/{course_id}/drops", place("drops")),
        Probe(
            "classgroups", "GET", "/v1/course-requests/{request_id}", _get(f"/v1/course-requests/{uuid.uuid4().hex}")
        ),
    ]


# --- class groups: famous-teacher studios (名师工作室), led by the teacher persona (the one verified teacher) ---
def _studio(ctx: Ctx) -> str:
    """The teacher persona's studio (made once it is known as a verified teacher to class groups)."""

    def make() -> str:
        c = Classes(ctx)
        r = c._until(lambda: c._call("teacher", "POST", "/v1/studios", json={"name": "数学工作室"}), _created)
        return r.json()["id"]

    return ctx.shared("studio", make)


def _created(r: httpx.Response) -> bool:
    return r.status_code == 201


def _studio_activity() -> dict[str, Any]:
    starts = datetime.now(UTC) + timedelta(days=2)
    return {"title": "集体备课", "starts_at": starts.isoformat(), "ends_at": (starts + timedelta(hours=1)).isoformat()}


def _studios_probes() -> list[Probe]:
    def on(suffix: str, method: str = "GET", body: Callable[[], Any] | None = None) -> Builder:
        def build(ctx: Ctx, persona: str) -> Request:
            return Request(method, f"/v1/studios/{_studio(ctx)}{suffix}", json=body() if body else None)

        return build

    leader, deny = frozenset({"teacher"}), frozenset({403, 404})
    base = "/v1/studios/{studio_id}"
    return [
        Probe("classgroups", "POST", "/v1/studios", _post("/v1/studios", {"name": "语文工作室"}), related=leader),
        Probe("classgroups", "GET", "/v1/public/studios", _get("/v1/public/studios", limit=5)),
        Probe(
            "classgroups",
            "GET",
            "/v1/public/studios/{studio_id}",
            lambda ctx, persona: Request("GET", f"/v1/public/studios/{_studio(ctx)}"),
        ),
        Probe("classgroups", "GET", "/v1/studios", _get("/v1/studios", area=COUNTY_IN), targets=[COUNTY_IN]),
        Probe("classgroups", "GET", base + "/members", on("/members"), related=leader, denied=deny),
        # the tier's one verified teacher leads the studio: it learns 409 (the leader does not apply); others 403
        Probe(
            "classgroups",
            "POST",
            base + "/applications",
            on("/applications", "POST"),
            related=leader,
            ok=frozenset({409}),
        ),
        # no application of u-nobody: the leader learns 404 application_not_found, and nothing changes
        Probe(
            "classgroups",
            "POST",
            base + "/members/{account_id}/approve",
            on("/members/u-nobody/approve", "POST"),
            related=leader,
            ok=frozenset({404}),
            denied=deny,
        ),
        Probe(
            "classgroups",
            "POST",
            base + "/members/{account_id}/reject",
            on("/members/u-nobody/reject", "POST"),
            related=leader,
            ok=frozenset({404}),
            denied=deny,
        ),
        Probe("classgroups", "POST", base + "/leave", on("/leave", "POST"), related=frozenset(), denied=deny),
        # a resource the catalog never published: the leader learns 422 unknown_resource
        Probe(
            "classgroups",
            "POST",
            base + "/resources",
            on("/resources", "POST", lambda: {"resource_id": "res-none"}),
            related=leader,
            ok=frozenset({422}),
            denied=deny,
        ),
        Probe(
            "classgroups",
            "POST",
            base + "/uploads",
            on("/uploads", "POST", lambda: {"content_type": "application/pdf", "size": 1000}),
            related=leader,
            denied=deny,
        ),
        Probe(
            "classgroups",
            "POST",
            base + "/activities",
            on("/activities", "POST", _studio_activity),
            related=leader,
            denied=deny,
        ),
        Probe("classgroups", "GET", base + "/activities", on("/activities"), related=leader, denied=deny),
    ]


PROBES: list[Probe] = [
    # readiness may say 503 (a consumer rebalancing): not an authorization outcome
    *[Probe(s, "GET", path, _get(path), ok=frozenset({503})) for s in SERVICES for path in OPS],
    *_identity_probes(),
    *_catalog_probes(),
    *_viewstats_probes(),
    *_classgroups_probes(),
    *_checkins_probes(),
    *_courses_probes(),
    *_studios_probes(),
    *_recommender_probes(),
]


def test_every_route_declares_a_rule_and_has_a_probe() -> None:
    table = route_table()
    undeclared = sorted(f"{s} {m} {p}" for (s, m, p), rule in table.items() if rule is None)
    assert not undeclared, f"routes without an access rule (declare one with common.access): {undeclared}"
    probed = {(p.service, p.method, p.path) for p in PROBES}
    unprobed = sorted(f"{s} {m} {p}" for s, m, p in table if (s, m, p) not in probed)
    assert not unprobed, f"routes the authorization matrix does not call (add a Probe): {unprobed}"
    stale = sorted(f"{s} {m} {p}" for s, m, p in probed if (s, m, p) not in table)
    assert not stale, f"probes of routes that no longer exist: {stale}"


@pytest.fixture(scope="module")
def ctx(platform: Platform) -> Iterator[Ctx]:
    context = Ctx(platform)
    yield context
    context.pool.shutdown()


def _cells() -> list[Any]:
    cells = []
    for probe in PROBES:
        for persona in PERSONAS:
            marks = []
            if persona in probe.xfail:
                marks.append(pytest.mark.xfail(strict=True, raises=PolicyViolation, reason=probe.xfail[persona]))
            cells.append(pytest.param(probe, persona, id=f"{probe.id} as {persona}", marks=marks))
    return cells


class PolicyViolation(AssertionError):
    """The outcome differs from what the declared rule implies (xfail cells expect exactly this)."""


@pytest.mark.parametrize(("probe", "persona"), _cells())
def test_matrix(ctx: Ctx, probe: Probe, persona: str) -> None:
    rule = route_table()[(probe.service, probe.method, probe.path)]
    assert rule is not None, f"{probe.id} declares no rule"
    want = expected(rule, probe, persona)
    outcome = ctx.row(probe)[persona]
    if isinstance(outcome, Exception):
        raise outcome
    request, response = outcome
    status = response.status_code
    seen = f"{request.method} {request.url} as {persona} → {status} {response.text[:300]}"
    assert status < 500, seen
    if want == "allow" and not (status < 400 or status in probe.ok):
        raise PolicyViolation(f"rule {rule.kind} allows it; {seen}")
    if want == "deny" and status not in probe.denied:
        raise PolicyViolation(f"rule {rule.kind} denies it; {seen}")
    if want == "login" and status != 401:
        raise PolicyViolation(f"rule {rule.kind} requires authentication; {seen}")
