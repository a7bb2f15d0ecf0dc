"""PLATFORM_ENVIRONMENT=production: a service refuses to start with a development key, a default secret or demo
seeding on (the PII, lookup, notification and certificate keys defaulted to values published in this repository
and nothing refused them)."""

from __future__ import annotations

import importlib
import secrets

import pytest

from catalog.settings import CatalogSettings
from common.settings import ProductionRefused
from identity.settings import IdentitySettings
from viewstats.settings import ViewstatsSettings

pytestmark = pytest.mark.unit


def key() -> str:
    return secrets.token_urlsafe(32)  # 32 random bytes, base64url: what docs/SECURITY.md tells operators to make


@pytest.fixture
def production(monkeypatch):
    for name in ("IDENTITY_PII_KEYS", "IDENTITY_LOOKUP_KEY", "IDENTITY_NOTIFY_KEY", "VIEWSTATS_CERTIFICATE_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PLATFORM_ENVIRONMENT", "production")
    return monkeypatch


def real_identity_keys(env) -> None:
    env.setenv("IDENTITY_PII_KEYS", f'{{"k1": "{key()}"}}')
    env.setenv("IDENTITY_PII_ACTIVE_KEY", "k1")
    env.setenv("IDENTITY_LOOKUP_KEY", key())
    env.setenv("IDENTITY_NOTIFY_KEY", key())


def test_development_is_the_default_and_accepts_the_development_keys(monkeypatch):
    monkeypatch.delenv("PLATFORM_ENVIRONMENT", raising=False)
    assert IdentitySettings().platform_environment == "development"
    assert IdentitySettings(seed_demo=True).seed_demo and ViewstatsSettings().certificate_key


def test_production_refuses_every_default_key_by_its_variable(production):
    with pytest.raises(ProductionRefused) as identity:
        IdentitySettings()
    message = str(identity.value)
    assert IdentitySettings.model_fields["lookup_key"].default not in message  # names variables, never values
    assert "PLATFORM_ENVIRONMENT=production refuses to start" in message
    for variable in ("IDENTITY_PII_KEYS", "IDENTITY_LOOKUP_KEY", "IDENTITY_NOTIFY_KEY"):
        assert f"{variable} is not set" in message
    with pytest.raises(ProductionRefused, match="VIEWSTATS_CERTIFICATE_KEY is not set"):
        ViewstatsSettings()


def test_production_refuses_a_development_key_given_explicitly(production):
    real_identity_keys(production)
    production.setenv("IDENTITY_LOOKUP_KEY", IdentitySettings.model_fields["lookup_key"].default)
    with pytest.raises(ProductionRefused, match="IDENTITY_LOOKUP_KEY holds a development key"):
        IdentitySettings()
    # the development key of one setting reused for another is still a development key
    production.setenv("IDENTITY_LOOKUP_KEY", key())
    production.setenv(
        "IDENTITY_PII_KEYS", f'{{"k1": "{key()}", "dev1": "{IdentitySettings.model_fields["notify_key"].default}"}}'
    )
    with pytest.raises(ProductionRefused, match="IDENTITY_PII_KEYS holds a development key"):
        IdentitySettings()
    production.setenv("VIEWSTATS_CERTIFICATE_KEY", "dev-only-certificate-key")
    with pytest.raises(ProductionRefused, match="VIEWSTATS_CERTIFICATE_KEY holds a development key"):
        ViewstatsSettings()
    production.setenv("VIEWSTATS_CERTIFICATE_KEY", "")
    with pytest.raises(ProductionRefused, match="VIEWSTATS_CERTIFICATE_KEY is empty"):
        ViewstatsSettings()


def test_production_refuses_demo_seeding(production):
    real_identity_keys(production)
    lookup_key = key()
    production.setenv("IDENTITY_LOOKUP_KEY", lookup_key)
    production.setenv("IDENTITY_SEED_DEMO", "true")
    with pytest.raises(ProductionRefused, match="IDENTITY_SEED_DEMO is on") as refused:
        IdentitySettings()
    assert lookup_key not in str(refused.value)  # a real key is not printed with the refusal


def test_production_starts_with_real_keys(production):
    real_identity_keys(production)
    production.setenv("VIEWSTATS_CERTIFICATE_KEY", key())
    assert IdentitySettings().platform_environment == "production" and not IdentitySettings().seed_demo
    assert ViewstatsSettings().platform_environment == "production"
    assert CatalogSettings().platform_environment == "production"  # a service without keys has nothing to refuse


@pytest.mark.parametrize(
    ("factory", "variable"), [("identity.app", "IDENTITY_LOOKUP_KEY"), ("viewstats.app", "VIEWSTATS_CERTIFICATE_KEY")]
)
def test_a_service_does_not_start_in_production_with_a_development_key(production, factory, variable):
    with pytest.raises(ProductionRefused, match=variable):
        importlib.import_module(factory).create_app()


def test_the_collector_needs_no_certificate_key(production):
    from viewstats.collector.app import create_app

    assert create_app().state.kit.settings.platform_environment == "production"


# --- the Kubernetes manifests deploy what production demands ---------------------------------------------------
def test_kubernetes_runs_production_with_every_key_from_a_secret_and_no_demo_seeding(monkeypatch):
    from tests.unit.common.test_k8s_manifests import (
        BASE,
        K8S,
        _base_workloads,
        _containers,
        _factory,
        _generators,
        _is_service,
        _literals,
    )

    monkeypatch.delenv("PLATFORM_ENVIRONMENT", raising=False)
    base = {e["name"]: _literals(e) for _, e in _generators(BASE)}
    assert base["smartedu-common"]["PLATFORM_ENVIRONMENT"] == "production"  # an overlay forgotten fails closed
    production = {e["name"]: _literals(e) for _, e in _generators(K8S / "overlays/production")}
    assert production["smartedu-common"]["PLATFORM_ENVIRONMENT"] == "production"
    for w in filter(_is_service, _base_workloads()):
        for c in _containers(w):
            module, function = _factory(c).split(":")
            settings = getattr(importlib.import_module(module), function)().state.kit.settings
            env = {e["name"]: e for e in c.get("env", [])}
            for name in settings.DEV_SECRETS:
                variable = settings.variable(name)
                assert "secretKeyRef" in env.get(variable, {}).get("valueFrom", {}), (
                    f"{w['metadata']['name']}: {variable} not from a Secret: production would refuse to start"
                )
            for name in settings.DEV_ONLY_SWITCHES:
                for literals in base.values():
                    assert literals.get(settings.variable(name), "false") == "false", settings.variable(name)
