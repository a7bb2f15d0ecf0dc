"""The platform the adversarial suite attacks: every service as its own uvicorn process on the real Kafka and
store (their logs captured to files for the PII sweep), identity's real tokens for every kind of user, and the
fake national teacher registry behind identity's own adapter.

Users (``Persona``): anonymous, a student, a parent and a verified teacher of school A, school / county /
province admins inside school A's subtree and outside it (Guangdong), the ministry admin, and catalog editors
and reviewers of provider ``pep`` (inside) and ``bnup`` (outside).
"""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

import httpx

from common import access
from common.topics import principal_of
from tests.conftest import ServiceProcess, ensure_group_acls, free_port, isolated_env, kafka_login

PASSWORD = "Zhihui-Jiaoyu-2026"
SCHOOL_A = "cn/43/4301/430102/school-430102001"
SCHOOL_A2 = "cn/43/4301/430102/school-430102002"
SCHOOL_G = "cn/44/4401/440106/school-440106001"
COUNTY_IN, COUNTY_OUT = "cn/43/4301/430102", "cn/44/4401/440106"
PROVINCE_IN, PROVINCE_OUT = "cn/43", "cn/44"
PROVIDER_IN, PROVIDER_OUT = "provider/pep", "provider/bnup"

# name → (account kind, roles granted by the ministry admin as "role@org" or "role")
PERSONAS: dict[str, tuple[str | None, tuple[str, ...]]] = {
    "anonymous": (None, ()),
    "student": ("student", (f"student@{SCHOOL_A}",)),
    "parent": ("parent", ()),
    "teacher": ("teacher", ()),  # teacher@SCHOOL_A comes from the real-name verification
    "school_admin_in": ("teacher", (f"school_admin@{SCHOOL_A}",)),
    "school_admin_out": ("teacher", (f"school_admin@{SCHOOL_G}",)),
    "county_admin_in": ("teacher", (f"county_admin@{COUNTY_IN}",)),
    "county_admin_out": ("teacher", (f"county_admin@{COUNTY_OUT}",)),
    "province_admin_in": ("teacher", (f"province_admin@{PROVINCE_IN}",)),
    "province_admin_out": ("teacher", (f"province_admin@{PROVINCE_OUT}",)),
    "ministry_admin": ("staff", ("ministry_admin",)),  # the operator's bootstrap makes a staff account
    "editor_in": ("teacher", (f"catalog_editor@{PROVIDER_IN}",)),
    "editor_out": ("teacher", (f"catalog_editor@{PROVIDER_OUT}",)),
    "reviewer_in": ("teacher", (f"catalog_reviewer@{PROVIDER_IN}",)),
    "reviewer_out": ("teacher", (f"catalog_reviewer@{PROVIDER_OUT}",)),
}

_SURNAMES = "赵钱孙李周吴郑王冯陈褚卫蒋沈韩杨朱秦尤许何吕施张孔曹严华金魏陶姜"
_GIVEN = "子涵欣怡梓萱诗雨浩宇俊杰思远雅琴文博嘉怡晨曦鹏飞若曦志强海燕秀英建国丽娟明轩"


def chinese_name() -> str:
    """A random three-character name: unique enough that finding it anywhere means it leaked."""
    return random.choice(_SURNAMES) + "".join(random.sample(_GIVEN, 2))


def phone() -> str:
    return f"1{random.choice('3589')}{random.randrange(10**9):09d}"


_NID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def national_id(birth: date = date(1985, 6, 15)) -> str:
    """A random resident ID number (GB 11643) with a correct check character."""
    body = f"430102{birth:%Y%m%d}{random.randrange(1000):03d}"
    return body + "10X98765432"[sum(int(c) * w for c, w in zip(body, _NID_WEIGHTS, strict=True)) % 11]


@dataclass
class Persona:
    name: str
    kind: str | None
    roles: tuple[str, ...]
    user_id: str | None = None
    identifier: str | None = None
    token: str | None = None

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def role_pairs(self) -> list[tuple[str, str | None]]:
        return [(r.partition("@")[0], r.partition("@")[2] or None) for r in self.roles]


@dataclass
class Platform:
    urls: dict[str, str]
    logs: dict[str, Path]
    personas: dict[str, Persona]
    pii: dict[str, set[str]] = field(
        default_factory=lambda: {"phone": set(), "email": set(), "name": set(), "nid": set()}
    )
    teacher_nid: str = ""
    database_prefix: str = ""
    processes: dict[str, ServiceProcess] = field(default_factory=dict)

    def replica(self, service: str, replica_id: str) -> ServiceProcess:
        """Another replica of a running service (same store and topics, its own port and log), not started."""
        running = self.processes[service]
        log = running.log_path.with_name(f"{service}-{replica_id}.log")
        env = {**running.env, "CATALOG_REPLICA_ID": replica_id}
        replica = ServiceProcess(running.factory, free_port(), log, env)
        self.logs[log.stem] = log
        return replica

    def client(self, service: str) -> httpx.Client:
        return httpx.Client(base_url=self.urls[service], timeout=60)

    # --- accounts ---------------------------------------------------------------------------------------
    def register(
        self, kind: str = "student", *, name: str | None = None, email: bool = False, birth: date | None = None
    ) -> tuple[str, str]:
        """A new account (PII recorded for the sweep); returns (user id, identifier)."""
        ident = phone()
        body: dict[str, Any] = {"phone": ident, "password": PASSWORD, "real_name": name or chinese_name(), "kind": kind}
        if email:
            body["email"] = f"adv.{uuid.uuid4().hex[:10]}@example.edu.cn"
            self.pii["email"].add(body["email"])
        if birth is not None:
            body["birth_date"] = birth.isoformat()
        self.pii["phone"].add(ident)
        self.pii["name"].add(body["real_name"])
        with self.client("identity") as http:
            r = http.post("/v1/accounts", json=body)
        assert r.status_code == 201, r.text
        return r.json()["user_id"], ident

    def login(self, identifier: str) -> dict[str, Any]:
        with self.client("identity") as http:
            r = http.post("/v1/sessions", json={"identifier": identifier, "password": PASSWORD})
        assert r.status_code == 200, r.text
        return r.json()

    def bearer(self, identifier: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.login(identifier)['access_token']}"}

    def grant(self, user_id: str, claim: str) -> None:
        """As the ministry admin, through the API."""
        role, _, org = claim.partition("@")
        with self.client("identity") as http:
            r = http.post(
                "/v1/role-grants",
                json={"user_id": user_id, "role": role, "org": org or None},
                headers=self.personas["ministry_admin"].headers,
            )
        assert r.status_code == 200, r.text

    def account(self, kind: str = "student", *roles: str, birth: date | None = None) -> str:
        user_id, _ = self.register(kind, birth=birth)
        for claim in roles:
            self.grant(user_id, claim)
        return user_id


def registry_app():  # uvicorn --factory tests.adversarial.platform:registry_app
    """The fake national teacher registry with this run's teachers (ADVERSARIAL_TEACHERS: JSON id → record)."""
    from deploy.local.teacher_registry.app import fake_registry_app

    return fake_registry_app({k: tuple(v) for k, v in json.loads(os.environ["ADVERSARIAL_TEACHERS"]).items()})


def _make_ministry_admin(identity: ServiceProcess, ident: str) -> None:
    """The operator's one-time step that makes the first ministry admin (docs/SECURITY.md), run as operators run
    it: ``python -m identity.bootstrap`` with identity's environment, the password on stdin."""
    done = subprocess.run(
        [sys.executable, "-m", "identity.bootstrap", "--phone", ident, "--real-name", chinese_name()],
        env={k: v for k, v in identity.env.items() if k != "IDENTITY_BOOTSTRAP_PASSWORD"},
        input=PASSWORD + "\n",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def start_platform(log_dir: Path, run: str) -> tuple[Platform, list[ServiceProcess]]:
    processes: list[ServiceProcess] = []
    teacher_name, teacher_nid = chinese_name(), national_id()
    prefix = f"test_adv_{run}_"

    groups = f"test-adv-{run}-"
    ensure_group_acls(groups)

    def spawn(service: str, factory: str, **env: str) -> ServiceProcess:
        # each service logs in to Kafka as its own principal, under its ACLs (the registry is no service)
        login = kafka_login(principal_of(factory).name) if service != "registry" else {}
        sp = ServiceProcess(
            factory,
            free_port(),
            log_dir / f"{service}.log",
            isolated_env(MONGODB_DATABASE_PREFIX=prefix, KAFKA_CLIENT_PREFIX=groups, LOG_LEVEL="INFO", **login, **env),
        )
        processes.append(sp)
        return sp

    registry = spawn(
        "registry",
        "tests.adversarial.platform:registry_app",
        ADVERSARIAL_TEACHERS=json.dumps({teacher_nid: [teacher_name, "school-430102001", "active"]}),
    )
    registry.start(wait_ready=False)
    identity = spawn(
        "identity",
        "identity.app:create_app",
        IDENTITY_TEACHER_REGISTRY_URL=registry.url,
        IDENTITY_ARGON2_TIME_COST="1",
        IDENTITY_ARGON2_MEMORY_KIB="8192",
        IDENTITY_ACCESS_TOKEN_MINUTES="60",
        IDENTITY_SEED_DEMO="true",  # the demo schools and provider orgs the personas belong to
        # every request of the suite comes from 127.0.0.1: the per-IP limits would lock the suite out (the 429s
        # themselves stay documented and fuzzed; their tests are in tests/integration/identity)
        IDENTITY_LOGIN_IP_MAX_FAILURES="1000000",
        IDENTITY_REGISTER_MAX_PER_IP="1000000",
        IDENTITY_RESET_MAX_PER_IP="1000000",
    )
    identity.start(wait_ready=False)
    auth = {"AUTH_JWKS_URL": f"{identity.url}/.well-known/jwks.json", "AUTH_JWKS_MIN_REFRESH_SECONDS": "0"}
    others = [
        spawn(
            "catalog",
            "catalog.app:create_app",
            CATALOG_SEARCH_HEAP_BYTES="60000000",
            CATALOG_REPLICA_ID="a",
            **auth,
        ),
        spawn("viewstats", "viewstats.app:create_app", **auth),
        spawn(
            "collector",
            "viewstats.collector.app:create_app",
            # the tier fuzzes /v1/views from this one address (every request costs a token): the limiter still
            # runs, but must not refuse the sweep's canary beacon afterwards
            VIEWSTATS_COLLECTOR_IP_RATE_PER_SECOND="1000000",
            VIEWSTATS_COLLECTOR_IP_BURST="1000000",
            **auth,
        ),
        spawn("recommender", "recommender.app:create_app", **auth),
        # the matrix joins the student persona to classes from parallel cells: each attempt holds a failure slot
        # while it is decided (the limit itself is tested in tests/integration/classgroups)
        spawn("classgroups", "classgroups.app:create_app", CLASSGROUPS_CODE_MAX_FAILURES="1000", **auth),
        # the xAPI exporter serves only the operations routes; its LRS is the tier's Ralph (deploy/local/test.sh)
        spawn("xapi", "xapi.app:create_app", **auth),
        # identity's feed router: operations routes only (the feeds' own routes are identity's)
        spawn("feeds", "identity.feeds.app:create_app", **auth),
    ]
    for sp in others:
        sp.start(wait_ready=False)
    try:
        _wait(registry, "/healthz")
        identity.wait_ready(90)
        for sp in others:
            sp.wait_ready(180)
    except BaseException:
        for sp in processes:
            sp.kill(9)
        raise
    names = ["identity", "catalog", "viewstats", "collector", "recommender", "classgroups", "xapi", "feeds"]
    platform = Platform(
        urls={n: p.url for n, p in zip(names, [identity, *others], strict=True)},
        logs={p.log_path.stem: p.log_path for p in processes},
        personas={n: Persona(n, kind, roles) for n, (kind, roles) in PERSONAS.items()},
        teacher_nid=teacher_nid,
        database_prefix=prefix,
        processes=dict(zip(names, [identity, *others], strict=True)),
    )
    platform.pii["nid"].add(teacher_nid)
    _create_personas(platform, teacher_name, teacher_nid)
    return platform, processes


def _wait(sp: ServiceProcess, path: str, timeout: float = 60) -> None:
    import time

    deadline = time.monotonic() + timeout
    while sp.status(path) != 200:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{sp.factory} not up: {sp.log_path.read_text()[-2000:]}")
        time.sleep(0.2)


def _create_personas(platform: Platform, teacher_name: str, teacher_nid: str) -> None:
    ministry = platform.personas["ministry_admin"]
    ministry.identifier = phone()
    platform.pii["phone"].add(ministry.identifier)
    _make_ministry_admin(platform.processes["identity"], ministry.identifier)
    ministry.token = platform.login(ministry.identifier)["access_token"]
    with platform.client("identity") as http:
        ministry.user_id = http.get("/v1/accounts/me", headers=ministry.headers).json()["user_id"]
    for persona in platform.personas.values():
        if persona.kind is None or persona is ministry:
            continue
        name = teacher_name if persona.name == "teacher" else None
        persona.user_id, persona.identifier = platform.register(persona.kind, name=name)
        for claim in persona.roles:
            platform.grant(persona.user_id, claim)
        persona.token = platform.login(persona.identifier)["access_token"]
    teacher = platform.personas["teacher"]
    with platform.client("identity") as http:
        r = http.post("/v1/teacher-verifications", json={"national_id": teacher_nid}, headers=teacher.headers)
    assert r.status_code == 200 and r.json()["outcome"] == "verified", r.text
    teacher.roles = (f"teacher@{SCHOOL_A}",)
    teacher.token = platform.login(teacher.identifier)["access_token"]  # the new role is in new tokens only


FACTORIES = {
    "identity": "identity.app",
    "catalog": "catalog.app",
    "viewstats": "viewstats.app",
    "collector": "viewstats.collector.app",
    "recommender": "recommender.app",
    "classgroups": "classgroups.app",
    "xapi": "xapi.app",
    "feeds": "identity.feeds.app",
}


@cache
def apps() -> dict[str, Any]:
    """Each service's app, built (never started): its routes and OpenAPI document, offline."""
    import importlib

    return {service: importlib.import_module(module).create_app() for service, module in FACTORIES.items()}


@cache
def route_table() -> dict[tuple[str, str, str], access.Access | None]:
    """(service, method, path) → the declared rule."""
    table = {}
    for service, app in apps().items():
        for route in access.routes(app):
            for method in route.methods or {"*"}:
                if method != "HEAD":
                    table[(service, method, route.path)] = access.rule_of(route)
    return table


@cache
def operations() -> list[tuple[str, str, str, access.Access]]:
    """(service, method, OpenAPI path, rule) of every documented operation."""
    rules = {(s, m, re.sub(r"\{(\w+):\w+\}", r"{\1}", p)): r for (s, m, p), r in route_table().items()}
    out = []
    for service, app in apps().items():
        for path, item in app.openapi()["paths"].items():
            for method in item:
                rule = rules[(service, method.upper(), path)]
                assert rule is not None
                out.append((service, method.upper(), path, rule))
    return out
