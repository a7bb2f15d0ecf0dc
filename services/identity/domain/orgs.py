"""The administrative hierarchy (行政区划) schools belong to: country → province → city → county → school.

Nodes are named by a path of codes, ``cn/43/4301/430102/school-430102001``: province, city and county codes
are GB/T 2260 (2-, 4- and 6-digit prefixes of the 6-digit division code), schools carry the platform's
school code. A path prefix is a subtree, so "an admin sees and manages only their subtree" is a prefix test
(:func:`common.auth.org_covers`). Resource providers (publishers, agencies) hang under ``provider/<id>``:
catalog editor and reviewer roles are scoped there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from common.auth import MINISTRY_ADMIN, Principal, org_covers
from common.errors import Invalid, NotFound
from common.reference import ORG_ROOT, PROVINCES

ROOT = ORG_ROOT
SCHOOL_CODE = re.compile(r"school-[0-9A-Za-z]{1,32}")


class Level(StrEnum):
    COUNTRY = "country"
    PROVINCE = "province"
    CITY = "city"
    COUNTY = "county"
    SCHOOL = "school"
    PROVIDER = "provider"


LEVEL_BY_DEPTH = {1: Level.COUNTRY, 2: Level.PROVINCE, 3: Level.CITY, 4: Level.COUNTY, 5: Level.SCHOOL}


@dataclass(frozen=True)
class OrgNode:
    path: str
    name: str

    @property
    def level(self) -> Level:
        if self.path.startswith("provider/"):
            return Level.PROVIDER
        return LEVEL_BY_DEPTH[self.path.count("/") + 1]

    @property
    def parent(self) -> str | None:
        head, sep, _ = self.path.rpartition("/")
        return head if sep and head != "provider" else None

    @property
    def code(self) -> str:
        return self.path.rsplit("/", 1)[-1]


def child_path(parent: OrgNode, code: str, level: Level) -> str:
    """Validates that ``code`` nests under ``parent`` the GB/T 2260 way and returns the child's path."""
    expected = {Level.PROVINCE: (Level.COUNTRY, 2), Level.CITY: (Level.PROVINCE, 4), Level.COUNTY: (Level.CITY, 6)}
    if level is Level.SCHOOL:
        # The platform's school code is unique nationally (like the MoE's 学校标识码), whatever county the
        # school is in: the store claims it atomically when the school is created, so a second school with the
        # same code (a copy elsewhere, to capture the teachers the registry lists under it) is refused.
        if parent.level is not Level.COUNTY or not SCHOOL_CODE.fullmatch(code):
            raise ValueError("a school (school-<letters and digits>) belongs under a county")
        return f"{parent.path}/{code}"
    if level in expected:
        parent_level, digits = expected[level]
        if parent.level is not parent_level:
            raise ValueError(f"a {level} belongs under a {parent_level}")
        if (
            len(code) != digits
            or not code.isdigit()
            or (parent.level is not Level.COUNTRY and not code.startswith(parent.code))
        ):
            raise ValueError(f"a {level} code has {digits} digits and starts with its parent's code")
        return f"{parent.path}/{code}"
    raise ValueError(f"cannot create a {level} node here")


DEMO_SUBTREE: list[tuple[str, str]] = [
    ("cn/43/4301", "长沙市"),
    ("cn/43/4301/430102", "芙蓉区"),
    ("cn/43/4301/430104", "岳麓区"),
    ("cn/43/4301/430102/school-430102001", "长沙市芙蓉区示范小学"),
    ("cn/43/4301/430102/school-430102002", "长沙市芙蓉区实验中学"),
    ("cn/43/4301/430104/school-430104001", "长沙市岳麓区第一中学"),
    ("cn/44/4401", "广州市"),
    ("cn/44/4401/440106", "天河区"),
    ("cn/44/4401/440106/school-440106001", "广州市天河区示范小学"),
    ("provider/pep", "人民教育出版社"),
    ("provider/bnup", "北京师范大学出版社"),
]


def seed_nodes(demo: bool = True) -> list[OrgNode]:
    """The root and the 34 provincial divisions (every deployment needs them), with the demo subtree if ``demo``."""
    nodes = [OrgNode(ROOT, "中华人民共和国")]
    nodes += [OrgNode(p.org_path, p.name) for p in PROVINCES.values()]
    if demo:
        nodes += [OrgNode(path, name) for path, name in DEMO_SUBTREE]
    return nodes


# --- roles ----------------------------------------------------------------------------------------------
ADMIN_ROLE_LEVEL = {
    "school_admin": Level.SCHOOL,
    "county_admin": Level.COUNTY,
    "city_admin": Level.CITY,
    "province_admin": Level.PROVINCE,
}
PROVIDER_ROLES = ("catalog_editor", "catalog_reviewer")
MEMBER_ROLES = ("student", "head_teacher")  # school membership roles an admin can grant
TEACHER = "teacher"  # granted only by a successful real-name verification (see domain.teachers)
GRANTABLE = (*ADMIN_ROLE_LEVEL, MINISTRY_ADMIN, *PROVIDER_ROLES, *MEMBER_ROLES)


def check_grant(grantor: Principal, role: str, org: str | None, node: OrgNode | None) -> None:
    """Who may grant (or revoke) which role where. Raises :class:`Invalid` or :class:`NotFound`, or the 403 of
    ``Principal.require``.

    - ministry admin: anything, including ministry admin itself (unscoped) and provider roles;
    - an X admin: admin roles at nodes strictly below their own scope (a county admin appoints school
      admins, never another county admin), and school membership roles anywhere in their subtree.
    """
    if role not in GRANTABLE:
        raise Invalid(f"'{role}' is not grantable here: unknown or non-grantable role", code="role", field="body.role")
    if role == MINISTRY_ADMIN:
        if org is not None:
            raise Invalid("must be empty for ministry_admin", code="org", field="body.org")
        grantor.require(MINISTRY_ADMIN, org=None)
        return
    if node is None:
        raise NotFound("Organisation not found", code="org_not_found")
    if role in PROVIDER_ROLES:
        if node.level is not Level.PROVIDER:
            raise Invalid(f"{role} is scoped to a provider", code="org_level", field="body.org")
        grantor.require(MINISTRY_ADMIN, org=None)
        return
    if role in ADMIN_ROLE_LEVEL:
        if node.level is not ADMIN_ROLE_LEVEL[role]:
            raise Invalid(f"{role} is scoped to a {ADMIN_ROLE_LEVEL[role]}", code="org_level", field="body.org")
        strictly_above = [
            s
            for s in grantor.scopes_of(*ADMIN_ROLE_LEVEL, MINISTRY_ADMIN)
            if s is None or (org_covers(s, node.path) and s != node.path)
        ]
        if not strictly_above:
            grantor.require(*ADMIN_ROLE_LEVEL, MINISTRY_ADMIN, org=node.parent)
        return
    # membership roles: at a school, by any admin covering it
    if node.level is not Level.SCHOOL:
        raise Invalid(f"{role} is scoped to a school", code="org_level", field="body.org")
    grantor.require(*ADMIN_ROLE_LEVEL, MINISTRY_ADMIN, org=node.path)


class OrgTree:
    """The hierarchy held in memory (a few hundred thousand schools at most): lookups and subtree walks
    without querying the store, which only ever fetches nodes by ``_id``."""

    def __init__(self, nodes: list[OrgNode] | None = None) -> None:
        self.nodes: dict[str, OrgNode] = {}
        self.children: dict[str, list[str]] = {}
        self.school_by_code: dict[str, str] = {}
        """School code → the path of the one school that holds it (codes are unique nationally)."""
        for n in nodes or []:
            self.add(n)

    def add(self, node: OrgNode) -> None:
        if node.path in self.nodes:
            return
        self.nodes[node.path] = node
        if node.level is Level.SCHOOL:
            self.school_by_code.setdefault(node.code, node.path)
        if node.parent is not None:
            self.children.setdefault(node.parent, []).append(node.path)

    def get(self, path: str) -> OrgNode | None:
        return self.nodes.get(path)

    def subtree(self, path: str, limit: int = 1000) -> list[OrgNode]:
        out, stack = [], [path]
        while stack and len(out) < limit:
            p = stack.pop()
            if p in self.nodes:
                out.append(self.nodes[p])
            stack.extend(reversed(self.children.get(p, [])))
        return out

    def visible_to(self, who: Principal) -> list[str]:
        """Roots of the subtrees an admin may see (ministry: the whole country and all providers)."""
        scopes = who.scopes_of(*ADMIN_ROLE_LEVEL, MINISTRY_ADMIN)
        if None in scopes:
            return [ROOT, *sorted(p for p in self.nodes if p.startswith("provider/"))]
        return sorted(set(s for s in scopes if s is not None))
