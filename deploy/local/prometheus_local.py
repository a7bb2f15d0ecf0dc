"""A real Prometheus for a local stack (`make run`) and the operability tests: it scrapes every process's
/metrics the way the ServiceMonitor does in Kubernetes and evaluates the PrometheusRule's alerts.

The binary is Debian's, unpacked by `make ops-tools` (deploy/local/ops-tools.sh) into .cache/prometheus. Targets
carry the labels the ServiceMonitor gives them in a cluster (``platform="smartedu"``, ``service``, ``pod``), and
the metrics keep their own ``service`` label (``honor_labels``), so dashboards and alerts read the same series
here as in production.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
BINARY = Path(os.environ.get("SMARTEDU_PROMETHEUS", ROOT / ".cache" / "prometheus" / "bin" / "prometheus"))
RULE = ROOT / "deploy" / "k8s" / "base" / "observability" / "prometheusrule.yaml"


@dataclass(frozen=True)
class Target:
    service: str  # the process kind: catalog, viewstats-collector, … (a label of every series it exports)
    url: str  # http://127.0.0.1:<port>
    pod: str = ""  # what tells replicas apart (the pod's name in a cluster)


def config(targets: list[Target], interval: str, rule_file: Path) -> dict[str, Any]:
    return {
        "global": {"scrape_interval": interval, "evaluation_interval": interval, "scrape_timeout": interval},
        "rule_files": [str(rule_file)],
        "scrape_configs": [
            {
                "job_name": "smartedu",
                "metrics_path": "/metrics",
                "honor_labels": True,  # as the ServiceMonitor: the metrics' own `service` label wins
                "static_configs": [
                    {
                        "targets": [urllib.parse.urlparse(t.url).netloc],
                        "labels": {"platform": "smartedu", "service": t.service, "pod": t.pod or t.service},
                    }
                    for t in targets
                ],
            }
        ],
    }


_DURATION = re.compile(r"(\[|offset\s+)(\d+)(ms|s|m|h|d)\b")
_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


def _scaled(duration: str, speedup: int) -> str:
    number, unit = re.fullmatch(r"(\d+)(ms|s|m|h|d)", duration).groups()  # type: ignore[union-attr]
    if int(number) == 0:
        return "0s"
    return f"{max(1, round(int(number) * _SECONDS[unit] * 1000 / speedup))}ms"


def rules(speedup: int = 1) -> dict[str, Any]:
    """The PrometheusRule's groups as a Prometheus rule file. ``speedup`` > 1 runs the same alerts on a faster
    clock for tests: every ``for``, range window and offset divided by it (thresholds unchanged), so that an alert
    meant to fire after 15 minutes fires after 15 seconds at 60."""
    groups = yaml.safe_load(RULE.read_text())["spec"]["groups"]
    if speedup != 1:
        for rule in (r for g in groups for r in g["rules"]):
            rule["expr"] = _DURATION.sub(lambda m: m[1] + _scaled(m[2] + m[3], speedup), rule["expr"])
            if "for" in rule:
                rule["for"] = _scaled(rule["for"], speedup)
    return {"groups": groups}


class Prometheus:
    def __init__(self, port: int, state: Path, targets: list[Target], interval: str = "5s", speedup: int = 1) -> None:
        self.speedup = speedup  # see rules()
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.state = state
        self.targets = targets
        self.interval = interval
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60) -> Prometheus:
        if not BINARY.exists():
            raise FileNotFoundError(f"{BINARY}: run `make ops-tools`")
        self.state.mkdir(parents=True, exist_ok=True)
        rule_file = self.state / "rules.yaml"
        rule_file.write_text(yaml.safe_dump(rules(self.speedup)))
        conf = self.state / "prometheus.yml"
        conf.write_text(json.dumps(config(self.targets, self.interval, rule_file), indent=2))  # JSON is YAML
        log = open(self.state / "prometheus.log", "ab")  # noqa: SIM115 - owned by the child
        self.proc = subprocess.Popen(
            [
                str(BINARY),
                f"--config.file={conf}",
                f"--storage.tsdb.path={self.state / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--storage.tsdb.retention.time=2d",
                "--web.enable-lifecycle",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"prometheus exited: {(self.state / 'prometheus.log').read_text()[-2000:]}")
            with contextlib.suppress(OSError), urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as r:
                if r.status == 200:
                    return self
            time.sleep(0.2)
        raise TimeoutError(f"prometheus not ready in {timeout}s")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()

    def api(self, path: str, **params: str) -> Any:
        """GET /api/v1/<path>: its ``data``; a query that errors raises ValueError with Prometheus' message."""
        url = f"{self.url}/api/v1/{path}?{urllib.parse.urlencode(params)}"
        try:
            with urllib.request.urlopen(url, timeout=30) as r:
                body = json.load(r)
        except urllib.error.HTTPError as e:
            body = json.load(e)
        if body.get("status") != "success":
            raise ValueError(f"{body.get('errorType')}: {body.get('error')}")
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        return self.api("query", query=expr)["result"]

    def targets_health(self) -> dict[str, str]:
        """scrape URL → health (up, down, unknown) of every active target."""
        return {t["scrapeUrl"]: t["health"] for t in self.api("targets")["activeTargets"]}

    def alerts(self) -> list[dict[str, Any]]:
        return self.api("alerts")["alerts"]
