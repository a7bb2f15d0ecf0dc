"""Rules of the codebase that a review would otherwise have to remember."""

import ast
import re
from pathlib import Path

import pytest

from common.contracts import EVENT_TYPES
from common.settings import ServiceSettings
from common.topics import CONSUMER_GROUPS, all_topics, render_k8s

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[3]
SERVICES = sorted(p.name for p in (ROOT / "services").iterdir() if (p / "__init__.py").exists())
PII_FIELDS = re.compile(r"(^|_)(phone|email|password|id_number|national_id|real_name|otp|secret|code_plain)($|_)")


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_imports_only_common_and_itself(service: str) -> None:
    others = set(SERVICES) - {service}
    for path in (ROOT / "services" / service).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] not in others, f"{path} imports {name}"


def test_every_event_goes_to_a_declared_topic_and_carries_no_pii() -> None:
    topics = {t.name for t in all_topics()}
    assert EVENT_TYPES, "no contracts registered"
    for event_type, model in EVENT_TYPES.items():
        assert model.TOPIC in topics, f"{event_type} publishes to undeclared topic {model.TOPIC}"
        for name in model.model_fields:
            assert not PII_FIELDS.search(name), f"{event_type}.{name} looks like PII or a secret"


def test_consumer_groups_read_declared_topics() -> None:
    topics = {t.name for t in all_topics()}
    for g in CONSUMER_GROUPS:
        assert set(g.topics) <= topics, g


def test_generated_kubernetes_topics_are_up_to_date() -> None:
    for name, text in render_k8s().items():
        path = ROOT / "deploy/k8s/base/kafka" / name
        assert path.exists(), f"run `make k8s` ({path} missing)"
        assert path.read_text().split("\n", 1)[1] == text, f"run `make k8s`: {path} is stale"


def test_readme_lists_every_setting() -> None:
    readme = (ROOT / "README.md").read_text()
    fields = dict(ServiceSettings.model_fields)
    for service in SERVICES:
        module = __import__(f"{service}.settings", fromlist=["x"])
        for obj in vars(module).values():
            if isinstance(obj, type) and issubclass(obj, ServiceSettings) and obj is not ServiceSettings:
                prefix = obj.model_config.get("env_prefix", "")
                for name, field in obj.model_fields.items():
                    if name not in ServiceSettings.model_fields:
                        fields[f"{prefix}{name}".upper()] = field
    for name, field in fields.items():
        var = field.validation_alias if isinstance(field.validation_alias, str) else name.upper()
        assert f"`{var}`" in readme, f"README settings table lacks `{var}`"
