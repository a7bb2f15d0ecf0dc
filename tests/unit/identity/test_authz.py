"""The authorization policy over the role lattice: who may act on (view, deactivate, grant to, revoke from)
whose account. Every admin level is tried against every kind of target, inside and outside its subtree."""

from __future__ import annotations

import pytest

from common.auth import Role
from common.errors import DomainError
from common.problems import Problem
from identity.domain import authz

REFUSED = (DomainError, Problem)  # a rule of identity's domain, or Principal.require (the chassis)

pytestmark = pytest.mark.unit

PROVINCE = "cn/43"
CITY = "cn/43/4301"
COUNTY = "cn/43/4301/430102"
SCHOOL = f"{COUNTY}/school-430102001"
SIBLING_SCHOOL = f"{COUNTY}/school-430102002"
OTHER_COUNTY_SCHOOL = "cn/43/4301/430104/school-430104001"
OTHER_PROVINCE_SCHOOL = "cn/44/4401/440106/school-440106001"

ADMINS = {
    "school": [Role(name="school_admin", org=SCHOOL)],
    "county": [Role(name="county_admin", org=COUNTY)],
    "city": [Role(name="city_admin", org=CITY)],
    "province": [Role(name="province_admin", org=PROVINCE)],
    "ministry": [Role(name="ministry_admin")],
}
ORDER = ["school", "county", "city", "province", "ministry"]


def roles(*claims: str) -> list[Role]:
    return [Role.parse(c) for c in claims]


# (target roles, target school, the lowest admin level that may act on it)
TARGETS = {
    "student": (roles(f"student@{SCHOOL}"), SCHOOL, "school"),
    "school member without role": ([], SCHOOL, "school"),
    "teacher": (roles(f"teacher@{SCHOOL}"), SCHOOL, "school"),
    "head teacher": (roles(f"teacher@{SCHOOL}", f"head_teacher@{SCHOOL}"), SCHOOL, "school"),
    "school admin": (roles(f"school_admin@{SCHOOL}"), None, "county"),
    "county admin": (roles(f"county_admin@{COUNTY}"), None, "city"),
    "city admin": (roles(f"city_admin@{CITY}"), None, "province"),
    "province admin": (roles(f"province_admin@{PROVINCE}"), None, "ministry"),
    "ministry admin": (roles("ministry_admin"), None, "ministry"),
    # an account that belongs nowhere is national: only the ministry governs it (scoped admins invite it)
    "unaffiliated parent": ([], None, "ministry"),
    "catalog editor": (roles("catalog_editor@provider/pep"), None, "ministry"),
}


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("actor", ORDER)
def test_the_lattice_each_admin_acts_only_below_itself_in_its_subtree(actor, target):
    target_roles, school, lowest = TARGETS[target]
    expected = ORDER.index(actor) >= ORDER.index(lowest)
    assert bool(authz.may_act_on(ADMINS[actor], target_roles, school)) is expected


@pytest.mark.parametrize("actor", ["school", "county", "city", "province"])
def test_a_target_holding_any_place_outside_the_subtree_is_out_of_reach(actor):
    # a pupil of this school who is also a pupil elsewhere, or a ministry admin made a pupil of this school
    for target_roles in (
        roles(f"student@{SCHOOL}", f"student@{OTHER_PROVINCE_SCHOOL}"),
        roles(f"student@{SCHOOL}", "ministry_admin"),
    ):
        decision = authz.may_act_on(ADMINS[actor], target_roles, SCHOOL)
        assert not decision
        assert decision.reason in ("out_of_scope", "outranked")


def test_the_first_scope_alone_does_not_decide():
    """The hole: deactivate looked at the target's first scope only."""
    ministry_admin_made_pupil = roles(f"student@{SCHOOL}", "ministry_admin")
    assert not authz.may_act_on(ADMINS["school"], ministry_admin_made_pupil, SCHOOL)
    assert authz.may_act_on(ADMINS["ministry"], ministry_admin_made_pupil, SCHOOL)


def test_subtree_boundaries():
    school_admin = ADMINS["school"]
    assert not authz.may_act_on(school_admin, roles(f"student@{SIBLING_SCHOOL}"), SIBLING_SCHOOL)
    county_admin = ADMINS["county"]
    assert authz.may_act_on(county_admin, roles(f"student@{SIBLING_SCHOOL}"), SIBLING_SCHOOL)
    assert not authz.may_act_on(county_admin, roles(f"student@{OTHER_COUNTY_SCHOOL}"), OTHER_COUNTY_SCHOOL)
    # a path prefix that is not a subtree boundary does not cover
    assert not authz.may_act_on(roles("school_admin@cn/43/4301/430102/school-43010200"), [], SCHOOL)


def test_peers_do_not_act_on_each_other_except_ministry_admins():
    assert authz.may_act_on(ADMINS["county"], roles(f"county_admin@{COUNTY}"), None).reason == "outranked"
    assert authz.may_act_on(ADMINS["school"], roles(f"school_admin@{SCHOOL}"), None).reason == "outranked"
    assert authz.may_act_on(ADMINS["ministry"], roles("ministry_admin"), None)


def test_non_admin_roles_govern_nobody():
    for actor in (roles(f"teacher@{SCHOOL}"), roles(f"head_teacher@{SCHOOL}"), roles("catalog_reviewer@provider/pep")):
        decision = authz.may_act_on(actor, roles(f"student@{SCHOOL}"), SCHOOL)
        assert not decision and decision.reason == "missing_role"


def test_two_admin_roles_may_together_cover_a_target():
    both = [Role(name="school_admin", org=SCHOOL), Role(name="school_admin", org=SIBLING_SCHOOL)]
    assert authz.may_act_on(both, roles(f"student@{SCHOOL}", f"student@{SIBLING_SCHOOL}"), SCHOOL)


@pytest.mark.parametrize(
    ("actor", "role", "org", "allowed"),
    [
        ("school", "student", SCHOOL, True),
        ("school", "head_teacher", SCHOOL, True),
        ("school", "school_admin", SCHOOL, False),  # never its own rank
        ("school", "student", SIBLING_SCHOOL, False),
        ("county", "school_admin", SCHOOL, True),
        ("county", "county_admin", COUNTY, False),
        ("city", "county_admin", COUNTY, True),
        ("province", "city_admin", CITY, True),
        ("province", "province_admin", PROVINCE, False),
        ("province", "ministry_admin", None, False),
        ("ministry", "ministry_admin", None, True),
        ("ministry", "catalog_editor", "provider/pep", True),
        ("province", "catalog_editor", "provider/pep", False),
    ],
)
def test_roles_granted_rank_below_the_grantor(actor, role, org, allowed):
    assert authz.may_grant_rank(ADMINS[actor], role, org) is allowed


def test_consent_is_needed_for_scoped_grants_to_accounts_that_belong_nowhere():
    assert authz.needs_consent(ADMINS["school"], [], None)
    assert authz.needs_consent(ADMINS["province"], [], None)
    assert not authz.needs_consent(ADMINS["ministry"], [], None)
    assert not authz.needs_consent(ADMINS["school"], roles(f"student@{SCHOOL}"), SCHOOL)


def test_require_act_on_lets_an_invitation_through_but_never_a_capture():
    authz.require_act_on(ADMINS["school"], [], None, unaffiliated_ok=True)  # becomes an invitation
    with pytest.raises(REFUSED) as refused:
        authz.require_act_on(ADMINS["school"], [], None, unaffiliated_ok=False)
    assert refused.value.status == 403
    with pytest.raises(REFUSED) as elsewhere:
        authz.require_act_on(ADMINS["school"], roles(f"student@{OTHER_COUNTY_SCHOOL}"), None, unaffiliated_ok=True)
    assert elsewhere.value.code == "out_of_scope"
    with pytest.raises(REFUSED):
        authz.require_act_on(roles(f"teacher@{SCHOOL}"), [], None, unaffiliated_ok=True)  # not an admin at all
