"""Identity's rules: secrets handling, hierarchy and grants, tokens and rotation, lockout, links, OIDC."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from joserfc.jwk import KeySet

from common.auth import JwksCache, Principal, Role, TokenError, TokenVerifier
from common.errors import DomainError
from common.problems import Problem
from identity.domain import crypto, oidc, orgs, teachers, tokens
from identity.domain.accounts import Account, RateLimit, ThrottlePolicy
from identity.domain.guardians import GuardianLink, approver_role

REFUSED = (DomainError, Problem)  # a rule of identity's domain, or Principal.require (the chassis)

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
SCHOOL = "cn/43/4301/430102/school-430102001"
KEY = crypto.b64e(b"k" * 32)


def principal(*roles: str, sub: str = "admin") -> Principal:
    return Principal(subject=sub, token_id="t", expires_at=NOW, roles=tuple(Role.parse(r) for r in roles))


# --- secrets ------------------------------------------------------------------------------------------------
def test_identifiers_normalise_and_reject():
    assert crypto.normalise_phone("+86 138-0013-8000") == "13800138000"
    with pytest.raises(ValueError):
        crypto.normalise_phone("12345")
    assert crypto.normalise_email(" Li.Ming@Example.COM ") == "li.ming@example.com"
    assert crypto.normalise_national_id("11010519491231002x") == "11010519491231002X"
    with pytest.raises(ValueError):
        crypto.normalise_national_id("110105194912310021")  # wrong check character


def test_password_policy():
    assert crypto.password_problems("Correct-Horse-9") == []
    assert "is too common" in crypto.password_problems("password1")
    assert crypto.password_problems("short1")
    assert crypto.password_problems("alllowercaseletters")
    assert crypto.password_problems("x13800138000", personal=("13800138000",))


def test_argon2id_hash_verify_and_decoy():
    pw = crypto.Passwords(time_cost=1, memory_cost_kib=8192)
    stored = pw.hash("Correct-Horse-9")
    assert stored.startswith("$argon2id$")
    assert pw.verify(stored, "Correct-Horse-9")
    assert not pw.verify(stored, "wrong-Horse-9")
    assert not pw.verify(None, "Correct-Horse-9")  # unknown account: same work, same answer
    assert crypto.Passwords(time_cost=2, memory_cost_kib=8192).needs_rehash(stored)


def test_pii_encryption_is_bound_to_field_and_owner():
    vault = crypto.PiiVault({"k1": KEY}, "k1", crypto.b64e(b"h" * 32))
    ct = vault.encrypt("13800138000", field="phone", owner="u_1")
    assert "13800138000" not in ct
    assert vault.decrypt(ct, field="phone", owner="u_1") == "13800138000"
    with pytest.raises(Exception):  # noqa: B017 - cryptography's InvalidTag
        vault.decrypt(ct, field="phone", owner="u_2")
    assert vault.lookup_hash("phone", "13800138000") == vault.lookup_hash("phone", "13800138000")
    assert vault.lookup_hash("phone", "13800138000") != vault.lookup_hash("email", "13800138000")


def test_sealed_notification_opens_only_with_gateway_key_and_reference():
    sealed = crypto.seal_for_gateway(KEY, "g1", {"to": "13800138000", "code": "123456"}, reference="n1")
    assert "123456" not in sealed and "13800138000" not in sealed
    assert crypto.open_sealed(KEY, sealed, reference="n1")["code"] == "123456"
    with pytest.raises(Exception):  # noqa: B017
        crypto.open_sealed(KEY, sealed, reference="n2")


# --- hierarchy and grants --------------------------------------------------------------------------------------
def test_seed_has_34_provincial_divisions_and_a_demo_subtree():
    tree = orgs.OrgTree(orgs.seed_nodes())
    provinces = [n for n in tree.nodes.values() if n.level is orgs.Level.PROVINCE]
    assert len(provinces) == 34
    assert tree.get(SCHOOL).level is orgs.Level.SCHOOL
    assert next(n.path for n in tree.subtree("cn/43/4301/430102")) == "cn/43/4301/430102"
    assert {n.path for n in tree.subtree("cn/43/4301/430102")} >= {SCHOOL}
    county = tree.get("cn/43/4301/430102")
    assert orgs.child_path(county, "school-9", orgs.Level.SCHOOL) == "cn/43/4301/430102/school-9"
    with pytest.raises(ValueError):
        orgs.child_path(tree.get("cn/43/4301"), "440106", orgs.Level.COUNTY)  # not under 4301


def test_grants_respect_scope_and_level():
    tree = orgs.OrgTree(orgs.seed_nodes())
    county_admin = principal("county_admin@cn/43/4301/430102")
    orgs.check_grant(county_admin, "school_admin", SCHOOL, tree.get(SCHOOL))
    orgs.check_grant(county_admin, "student", SCHOOL, tree.get(SCHOOL))
    with pytest.raises(REFUSED) as peer:  # no appointing a peer county admin
        orgs.check_grant(county_admin, "county_admin", "cn/43/4301/430102", tree.get("cn/43/4301/430102"))
    assert peer.value.status == 403
    other = "cn/43/4301/430104/school-430104001"
    with pytest.raises(REFUSED) as out:
        orgs.check_grant(county_admin, "school_admin", other, tree.get(other))
    assert out.value.status == 403
    with pytest.raises(REFUSED) as level:
        orgs.check_grant(county_admin, "school_admin", "cn/43/4301/430102", tree.get("cn/43/4301/430102"))
    assert level.value.status == 422
    with pytest.raises(REFUSED):
        orgs.check_grant(county_admin, "catalog_editor", "provider/pep", tree.get("provider/pep"))
    orgs.check_grant(principal("ministry_admin"), "catalog_editor", "provider/pep", tree.get("provider/pep"))
    orgs.check_grant(principal("ministry_admin"), "province_admin", "cn/43", tree.get("cn/43"))
    assert tree.visible_to(county_admin) == ["cn/43/4301/430102"]


# --- tokens -------------------------------------------------------------------------------------------------
def verifier_of(ring: tokens.KeyRing, now: datetime) -> TokenVerifier:
    cache = JwksCache("unused")
    cache.load(ring.jwks(now))
    cache._fetched_at = float("inf")  # never stale in this test
    return TokenVerifier(cache, issuer="https://id.test", audience="api", clock=lambda: now.timestamp())


async def test_access_token_round_trip_and_rotation_keeps_old_tokens_valid():
    policy = tokens.TokenPolicy(issuer="https://id.test", audience="api", access_ttl=timedelta(minutes=10))
    ring = tokens.KeyRing()
    ring.ensure(NOW)
    assert {k.status for k in ring.keys} == {"active", "next"}
    token, _ = tokens.issue_access_token(
        ring, policy, subject="u_1", roles=[Role.parse(f"student@{SCHOOL}")], kind="student", now=NOW
    )
    p = await verifier_of(ring, NOW).verify(token)
    assert p.subject == "u_1" and p.roles == (Role(name="student", org=SCHOOL),)
    published_before = {k["kid"] for k in ring.jwks(NOW)["keys"]}
    ring.rotate(NOW, policy.access_ttl)
    new_token, _ = tokens.issue_access_token(ring, policy, subject="u_1", roles=[], kind="student", now=NOW)
    assert KeySet.import_key_set(ring.jwks(NOW))  # valid JWKS
    # a verifier that fetched BEFORE the rotation already knows the new signing key (published ahead)
    assert ring.active().kid in published_before
    assert (await verifier_of(ring, NOW).verify(token)).subject == "u_1"
    later = NOW + timedelta(minutes=11)
    (old_kid,) = published_before - {ring.active().kid}
    assert old_kid in {k["kid"] for k in ring.jwks(NOW)["keys"]}
    assert old_kid not in {k["kid"] for k in ring.jwks(later)["keys"]}
    assert len(ring.jwks(later)["keys"]) == 2  # the retired key left after its last token expired
    assert (await verifier_of(ring, NOW).verify(new_token)).subject == "u_1"


async def test_id_token_is_not_an_access_token():
    policy = tokens.TokenPolicy(issuer="https://id.test", audience="api")
    ring = tokens.KeyRing()
    ring.ensure(NOW)
    idt = tokens.issue_id_token(ring, policy, subject="u_1", client_id="api", nonce="n", now=NOW, auth_time=NOW)
    with pytest.raises(TokenError) as exc:
        await verifier_of(ring, NOW).verify(idt)
    assert exc.value.reason in ("invalid", "tampered")


def test_refresh_judgement():
    rt = tokens.RefreshToken("d", "f", "u", None, None, NOW, NOW + timedelta(days=1), NOW)
    ok = dict(family_revoked=False, already_used=False, now=NOW, client_id=None)
    assert tokens.judge_refresh(rt, **ok) == "ok"
    assert tokens.judge_refresh(rt, **{**ok, "already_used": True}) == "reused"
    assert tokens.judge_refresh(rt, **{**ok, "family_revoked": True}) == "revoked"
    assert tokens.judge_refresh(rt, **{**ok, "now": NOW + timedelta(days=2)}) == "expired"
    assert tokens.judge_refresh(rt, **{**ok, "client_id": "other"}) == "unknown"


# --- lockout ---------------------------------------------------------------------------------------------
def test_lock_doubles_per_generation_up_to_the_cap():
    policy = ThrottlePolicy(max_failures=3, lock_seconds=60, max_lock_seconds=100)
    assert [policy.lock_for(g) for g in range(3)] == [60, 100, 100]  # 120 capped at max
    assert policy.lock_for(10**6) == 100  # no overflow however often an account was locked


def test_failure_counters_change_with_generation_and_window():
    policy = ThrottlePolicy(window_seconds=900)
    first = policy.counter("acct:x", 0, 899.0)
    assert first == policy.counter("acct:x", 0, 0.0)
    assert first != policy.counter("acct:x", 1, 899.0)  # a new generation after a lock starts empty
    assert first != policy.counter("acct:x", 0, 900.0)  # so does a new window
    assert policy.window_end(899.0) == 900.0


def test_rate_limit_windows_and_retry_after():
    limit = RateLimit("reset-id", 5, 3600)
    assert limit.counter("k", 3599.0) != limit.counter("k", 3600.0)
    assert limit.counter("k", 0.0) != limit.counter("other", 0.0)
    assert limit.retry_after(3599.5) == 1 and limit.retry_after(0.0) == 3600


# --- guardians, teachers, OIDC -------------------------------------------------------------------------------
def child(birth: date) -> Account:
    return Account(
        id="u_child",
        kind="student",
        status="active",
        password_hash="",
        name_enc="",
        logins={},
        birth_date=birth,
        school=SCHOOL,
    )


def test_guardian_approval_rules():
    link = GuardianLink("u_parent", "u_child", "pending", NOW)
    today = date(2026, 11, 23)
    assert (
        approver_role(
            principal(f"head_teacher@{SCHOOL}", sub="t"),
            child(date(2016, 1, 1)),
            link,
            today=today,
            self_approval_age=14,
        )
        == "head_teacher"
    )
    assert (
        approver_role(
            principal("school_admin@" + SCHOOL), child(date(2016, 1, 1)), link, today=today, self_approval_age=14
        )
        == "school_admin"
    )
    assert (
        approver_role(principal(sub="u_child"), child(date(2010, 1, 1)), link, today=today, self_approval_age=14)
        == "student"
    )
    for who in (
        principal(sub="u_child"),
        principal(sub="u_parent"),
        principal("head_teacher@cn/43/4301/430104/school-430104001", sub="t"),
    ):
        with pytest.raises(REFUSED) as exc:
            approver_role(who, child(date(2016, 1, 1)), link, today=today, self_approval_age=14)
        assert exc.value.status == 403


def test_teacher_registry_judgement():
    assert teachers.judge(teachers.RegistryAnswer(True, True, "school-1", "active"), SCHOOL) == ("verified", None)
    assert teachers.judge(teachers.RegistryAnswer(False, False), None) == ("rejected", "not_found")
    assert teachers.judge(teachers.RegistryAnswer(True, False, "school-1"), SCHOOL)[1] == "name_mismatch"


def test_pkce_and_scopes():
    verifier = "v" * 50
    assert oidc.check_pkce(verifier, oidc.pkce_s256(verifier))
    assert not oidc.check_pkce("w" * 50, oidc.pkce_s256(verifier))
    assert not oidc.check_pkce(None, oidc.pkce_s256(verifier))
    assert oidc.narrow_scope("openid profile", oidc.SUPPORTED_SCOPES) == "openid profile"
    assert oidc.narrow_scope("profile", oidc.SUPPORTED_SCOPES) is None
    assert oidc.valid_redirect_uri("https://rp.example/cb") and not oidc.valid_redirect_uri("http://rp.example/cb")
