"""Every kustomization renders with kustomize and validates offline against the Kubernetes schemas and the CRDs
of the operators it uses (Strimzi, KEDA, Prometheus Operator): what `kubectl apply -k` would refuse fails here.

The tools come from `make ops-tools` (deploy/local/ops-tools.sh); the validator is deploy/local/k8s_validate.py.
"""

from __future__ import annotations

import copy
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from common.topics import all_topics
from tests.ops.tools import ROOT, tool

pytestmark = pytest.mark.integration
K8S = ROOT / "deploy" / "k8s"
VALIDATOR = ROOT / "deploy" / "local" / "k8s_validate.py"
RENDERED = [K8S / "base", *sorted(p.parent for p in (K8S / "overlays").glob("*/kustomization.yaml"))]
CUSTOM_KINDS = {"KafkaTopic", "KafkaUser", "ScaledObject", "TriggerAuthentication", "ServiceMonitor", "PrometheusRule"}


def render(kustomization: Path) -> str:
    out = subprocess.run(
        [str(tool("SMARTEDU_KUSTOMIZE")), "build", str(kustomization)], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def validate(manifests: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(tool("SMARTEDU_KUBEVAL_PYTHON")), str(VALIDATOR), "--crds", str(tool("SMARTEDU_CRDS")), "-"],
        input=manifests,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _of_kind(docs: list[dict[str, Any]], *kinds: str) -> list[dict[str, Any]]:
    return [d for d in docs if d.get("kind") in kinds]


@pytest.mark.parametrize("kustomization", RENDERED, ids=[p.name for p in RENDERED])
def test_kustomization_renders_and_validates(kustomization: Path) -> None:
    manifests = render(kustomization)
    docs = [d for d in yaml.safe_load_all(manifests) if d]
    assert {d["kind"] for d in docs} >= CUSTOM_KINDS, "every operator's kinds are rendered, so each is validated"
    result = validate(manifests)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"validated {len(docs)} resources" in result.stdout

    # What the schemas cannot know: references between the rendered resources.
    configmaps = {d["metadata"]["name"] for d in _of_kind(docs, "ConfigMap")}
    for w in _of_kind(docs, "Deployment", "StatefulSet"):
        for c in w["spec"]["template"]["spec"]["containers"]:
            for source in c.get("envFrom", []):
                name = source.get("configMapRef", {}).get("name")
                assert name is None or name in configmaps, f"{w['metadata']['name']}: ConfigMap {name} not rendered"
    partitions = {t.name: t.partitions for t in all_topics()}
    for so in _of_kind(docs, "ScaledObject"):
        for t in so["spec"]["triggers"]:
            if t["type"] == "kafka":
                assert so["spec"]["maxReplicaCount"] <= partitions[t["metadata"]["topic"]], so["metadata"]["name"]


def test_the_validator_refuses_what_the_api_server_would() -> None:
    """One mistake per schema source: a misspelt field in a Deployment (Kubernetes), a wrong type in a KEDA
    trigger, a duration Prometheus Operator cannot parse, a topic without partitions (Strimzi)."""
    docs = [d for d in yaml.safe_load_all(render(K8S / "overlays" / "production")) if d]
    broken = [copy.deepcopy(_of_kind(docs, kind)[0]) for kind in ("Deployment", "ScaledObject", "PrometheusRule")]
    broken.append(copy.deepcopy(_of_kind(docs, "KafkaTopic")[0]))
    broken[0]["spec"]["template"]["spec"]["containers"][0]["imagePullPolcy"] = "Always"
    broken[1]["spec"]["maxReplicaCount"] = "twelve"
    broken[2]["spec"]["groups"][0]["rules"][0]["for"] = "10 minutes"
    broken[3]["spec"]["partitions"] = 0
    result = validate(yaml.safe_dump_all(broken))
    assert result.returncode == 1
    invalid = [line for line in result.stdout.splitlines() if line.startswith("INVALID")]
    assert any("imagePullPolcy" in line for line in invalid), result.stdout
    assert any("maxReplicaCount" in line for line in invalid), result.stdout
    assert any("rules.0.for" in line for line in invalid), result.stdout
    assert any("spec.partitions" in line for line in invalid), result.stdout


def test_a_kind_without_a_schema_is_an_error() -> None:
    unknown = {"apiVersion": "example.com/v1", "kind": "Gadget", "metadata": {"name": "x"}, "spec": {}}
    result = validate(yaml.safe_dump(unknown))
    assert result.returncode == 1
    assert "no schema for example.com/v1 Gadget" in result.stdout
