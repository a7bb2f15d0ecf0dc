"""Every alert of the PrometheusRule links a runbook that an SRE can act on, carries what Alertmanager and the
runbook need, and behaves as its promtool unit tests say (deploy/k8s/observability/alerts.test.yaml)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.ops.tools import ROOT, tool

pytestmark = pytest.mark.integration
RULE = ROOT / "deploy" / "k8s" / "base" / "observability" / "prometheusrule.yaml"
UNIT_TESTS = ROOT / "deploy" / "k8s" / "observability" / "alerts.test.yaml"
RUNBOOK_SECTIONS = ("## Meaning", "## Impact on schools", "## Diagnosis", "## Fix", "## Verification")


def alerts() -> list[dict[str, Any]]:
    groups = yaml.safe_load(RULE.read_text())["spec"]["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


ALERTS = alerts()


def test_the_rule_has_alerts() -> None:
    assert len(ALERTS) >= 10


@pytest.mark.parametrize("alert", ALERTS, ids=[a["alert"] for a in ALERTS])
def test_every_alert_links_a_runbook_with_the_five_sections(alert: dict[str, Any]) -> None:
    annotations, labels = alert["annotations"], alert["labels"]
    assert {"summary", "description", "runbook_url"} <= annotations.keys()
    assert labels.get("severity") in {"critical", "warning"}
    assert "for" in alert, "every alert says how long its condition must hold"
    runbook = ROOT / annotations["runbook_url"]
    assert runbook.is_file(), f"{alert['alert']}: {annotations['runbook_url']} does not exist"
    text = runbook.read_text()
    assert text.startswith(f"# {alert['alert']}\n")
    for section in RUNBOOK_SECTIONS:
        assert section in text, f"{runbook.name} lacks {section}"
    diagnosis = text.split("## Diagnosis", 1)[1].split("## Fix", 1)[0]
    assert "`" in diagnosis, f"{runbook.name}: the diagnosis gives no command or query"
    assert alert["alert"] in (ROOT / "docs" / "runbooks" / "README.md").read_text()


def _promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(tool("SMARTEDU_PROMTOOL")), *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def _static(annotations: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in annotations.items() if "{{" not in v}


def test_promtool_unit_tests_cover_and_pass_every_alert(tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump({"groups": yaml.safe_load(RULE.read_text())["spec"]["groups"]}))
    checked = _promtool("check", "rules", "rules.yaml", cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr

    by_name = {a["alert"]: a for a in ALERTS}
    spec = yaml.safe_load(UNIT_TESTS.read_text())
    fired: set[str] = set()
    for case in spec["tests"]:
        for check in case["alert_rule_test"]:
            for expected in check["exp_alerts"]:
                fired.add(check["alertname"])
                expected["exp_annotations"] = {
                    **_static(by_name[check["alertname"]]["annotations"]),
                    **expected["exp_annotations"],
                }
    assert fired == set(by_name), f"alerts never shown firing: {sorted(set(by_name) - fired)}"
    (tmp_path / "alerts.test.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    result = _promtool("test", "rules", "alerts.test.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_fails_a_test_whose_expectation_is_wrong(tmp_path: Path) -> None:
    """The harness can fail: the same tests with one expected label changed do not pass."""
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump({"groups": yaml.safe_load(RULE.read_text())["spec"]["groups"]}))
    spec = yaml.safe_load(UNIT_TESTS.read_text())
    spec["tests"][0]["alert_rule_test"][1]["exp_alerts"][0]["exp_labels"]["service"] = "identity"
    (tmp_path / "alerts.test.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    result = _promtool("test", "rules", "alerts.test.yaml", cwd=tmp_path)
    assert result.returncode != 0
