"""OIDC provider rules without I/O: PKCE verifier syntax, consent arithmetic, relying-party token audiences,
ID token hints for logout."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from common.auth import Role, TokenError
from identity.domain import oidc, tokens
from tests.unit.identity.test_domain import verifier_of

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
GOOD = "A-good_verifier.with~only-unreserved-characters-0123456789"


@pytest.mark.parametrize("verifier", ["é" * 50, "v" * 42 + "✓", "a" * 42, "a" * 129, "a b" * 20, None, ""])
def test_only_rfc7636_verifiers_are_checked_never_an_encoding_error(verifier):
    assert oidc.check_pkce(verifier, oidc.pkce_s256(GOOD)) is False


def test_a_good_verifier_matches_its_challenge():
    assert oidc.check_pkce(GOOD, oidc.pkce_s256(GOOD))


def test_consent_covers_the_scopes_agreed_to_only():
    assert oidc.missing_consent("openid profile", {"openid"}) == {"profile"}
    assert oidc.missing_consent("openid", {"openid", "roles"}) == set()


async def test_a_relying_partys_access_token_is_for_its_audience_and_names_its_session():
    policy = tokens.TokenPolicy(issuer="https://id.test", audience="api")  # what verifier_of accepts
    ring = tokens.KeyRing()
    ring.ensure(NOW)
    token, _ = tokens.issue_access_token(
        ring, policy, subject="u_1", roles=[], kind=None, now=NOW, client_id="c_1", scope="openid", session="fam1"
    )
    claims = tokens.unverified_claims(token)
    assert claims["aud"] == "c_1" and claims["sid"] == "fam1" and claims["roles"] == []
    with pytest.raises(TokenError):
        await verifier_of(ring, NOW).verify(token)  # the platform's audience only
    platform, _ = tokens.issue_access_token(
        ring, policy, subject="u_1", roles=[Role(name="student", org="cn")], kind="student", now=NOW
    )
    assert (await verifier_of(ring, NOW).verify(platform)).subject == "u_1"


def test_an_id_token_hint_verifies_even_expired_but_nothing_else_passes():
    policy = tokens.TokenPolicy(issuer="https://id.test", audience="smartedu-api")
    ring = tokens.KeyRing()
    ring.ensure(NOW)
    idt = tokens.issue_id_token(
        ring, policy, subject="u_1", client_id="c_1", nonce=None, now=NOW, auth_time=NOW, extra={"sid": "fam1"}
    )
    later = NOW + timedelta(hours=2)
    assert tokens.verify_id_token(ring, policy, idt, later)["sid"] == "fam1"
    access, _ = tokens.issue_access_token(ring, policy, subject="u_1", roles=[], kind=None, now=NOW)
    assert tokens.verify_id_token(ring, policy, access, NOW) is None
    assert tokens.verify_id_token(ring, policy, idt[:-4] + "AAAA", NOW) is None
    assert tokens.verify_id_token(ring, policy, "not.a.token", NOW) is None
    other = tokens.TokenPolicy(issuer="https://evil.test", audience="smartedu-api")
    assert tokens.verify_id_token(ring, other, idt, NOW) is None
    assert tokens.unverified_claims("garbage") == {}
