"""Capacity model of the platform: how many replicas and partitions the peak day, a 3× surge when schools close and
100 M accounts logging in over a morning need, from

- the per-core rates of the hot paths in ``deploy/capacity-rates.json`` (kept in sync with docs/BENCHMARKS.md;
  ``status: placeholder`` marks a rate not measured yet),
- the scaling rules in ``deploy/k8s``: the CPU target of each autoscaler and the CPU limit of each container
  (base), the replica bounds of ``overlays/production``, the partitions of the Kafka topics,
- the demand model below (:data:`DEMAND`; every assumption is printed in the document).

    PYTHONPATH=libs:services:deploy/local python deploy/capacity.py            # print the tables
    PYTHONPATH=libs:services:deploy/local python deploy/capacity.py --write    # refresh docs/CAPACITY.md

tests/unit/common/test_capacity.py checks the arithmetic on a small case and that docs/CAPACITY.md holds what this
prints for the committed rates and manifests.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
RATES = ROOT / "deploy" / "capacity-rates.json"
K8S = ROOT / "deploy" / "k8s"
DOC = ROOT / "docs" / "CAPACITY.md"
BEGIN, END = "<!-- capacity.py:begin -->", "<!-- capacity.py:end -->"

PEAK_DAY_VIEWS = 89_970_000  # May 2022 (platform brief)
ACCOUNTS = 100_000_000
DEMAND = {
    "class_start_burst": 2.0,  # within the peak hour, views bunch when classes start on the hour
    "records_per_view": 1.02,  # 2 % of beacons are client retries (the traffic generator's share)
    "catalog_reads_per_view": 1.0,  # ≈ 2 catalog reads per page view, half served by browser/CDN caches (max-age 60)
    "authenticated_calls_per_view": 1.0,  # a signed-in page view calls one authenticated API
    "token_cache_miss": 0.05,  # first sight of a token on a replica (10-minute tokens, a user on a few replicas)
    "peak_day_login_share": 0.05,  # of the accounts log in on a peak day, a fifth of them in the peak hour
    "peak_hour_login_share": 0.2,
    "checkins_per_day": 20_000_000,  # holiday reading / labour check-ins: a fifth of the students, once a day
    "recommendation_pages_per_view": 0.1,
    "morning_hours": 4.0,  # 100 M accounts logging in over a morning (08:00-12:00)
    "hot_partition_share": 0.286,  # the largest partition's share of the views topic (Zipf keys, BENCHMARKS.md)
    "account_bytes": 1800,  # ESTIMATE: account (encrypted PII, Argon2 hash, roles) + 2 login index documents + nid
    "session_bytes": 400,  # ESTIMATE: a refresh token family and its current token document
}

# component → (workload kind and name in deploy/k8s, container, rate keys, topic whose partitions bound it)
COMPONENTS = {
    "collector": ("viewstats-collector", "collector", None),
    "aggregator": ("viewstats", "aggregator", "viewstats.views.v1"),
    "catalog": ("catalog", "catalog_reads", None),
    "identity (logins)": ("identity", "logins", None),
    "classgroups (check-ins)": ("classgroups", "checkins", None),
    "recommender": ("recommender", "recommendations", None),
}
# A Python process serves on one event loop: one core, whatever its limit (identity hashes in threads: its limit).
THREADED = {"identity"}


@dataclass(frozen=True)
class Rule:
    """The scaling rule of one workload: CPU target (fraction), cores per pod, production replica bounds."""

    target: float
    cores: float
    min_replicas: int
    max_replicas: int


def peak_hour_factor() -> float:
    """Busiest hour of the day against the day's average hour, from the diurnal curve the traffic generator (and
    every whole-day benchmark) uses."""
    from traffic import HOURLY

    return max(HOURLY) / (sum(HOURLY) / len(HOURLY))


def _docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def _cpu(text: str) -> float:
    return float(text[:-1]) / 1000 if text.endswith("m") else float(text)


def scaling_rules() -> dict[str, Rule]:
    """Per workload: the CPU target of its base autoscaler, its container's CPU limit, the production bounds."""
    bounds = {}
    for d in _docs(K8S / "overlays" / "production" / "autoscaling.yaml"):
        s = d["spec"]
        bounds[d["metadata"]["name"]] = (
            s.get("minReplicas", s.get("minReplicaCount")),
            s.get("maxReplicas", s.get("maxReplicaCount")),
        )
    rules = {}
    for name, (low, high) in bounds.items():
        target = None
        for d in _docs(K8S / "base" / name / "autoscaling.yaml"):
            for m in d["spec"].get("metrics", []):
                target = m["resource"]["target"]["averageUtilization"]
            for t in d["spec"].get("triggers", []):
                if t["type"] == "cpu":
                    target = int(t["metadata"]["value"])
        workload = next(p for p in (K8S / "base" / name).glob("*.yaml") if p.stem in ("deployment", "statefulset"))
        container = _docs(workload)[0]["spec"]["template"]["spec"]["containers"][0]
        limit = _cpu(container["resources"]["limits"]["cpu"])
        rules[name] = Rule(target / 100, limit if name in THREADED else min(limit, 1.0), low, high)
    return rules


def partitions() -> dict[str, int]:
    return {d["metadata"]["name"]: d["spec"]["partitions"] for d in _docs(K8S / "base" / "kafka" / "kafka-topics.yaml")}


def demand(surge: float, phf: float, d: dict[str, float] = DEMAND) -> dict[str, float]:
    """Peak-second demand on each component's rate, the peak day's traffic times ``surge``."""
    views = PEAK_DAY_VIEWS / 86_400 * phf * d["class_start_burst"] * surge
    logins = ACCOUNTS * d["peak_day_login_share"] * d["peak_hour_login_share"] / 3600 * d["class_start_burst"]
    return {
        "views": views,
        "collector": views,  # worst case: every view its own request (no batching)
        "aggregator": views * d["records_per_view"],
        "catalog_reads": views * d["catalog_reads_per_view"],
        "verifications": views * d["authenticated_calls_per_view"],
        "logins": logins * surge,
        "checkins": d["checkins_per_day"] / 86_400 * phf * surge,
        "recommendations": views * d["recommendation_pages_per_view"],
    }


def replicas(load: float, per_core: float, rule: Rule) -> int:
    """Pods to carry ``load`` at the autoscaler's CPU target."""
    return max(1, math.ceil(load / (per_core * rule.cores * rule.target)))


def plan(
    load: dict[str, float], rates: dict[str, dict[str, Any]], rules: dict[str, Rule], parts: dict[str, int]
) -> list[dict[str, Any]]:
    """One row per component: demand, rate, replicas needed, the production maximum, and the utilisation of that
    maximum (> 1: saturated). The aggregator is also bound by its topic's partitions and by its hottest one."""
    rows = []
    for component, (workload, key, topic) in COMPONENTS.items():
        rule, rate = rules[workload], rates[key]["per_core"]
        need = replicas(load[key], rate, rule)
        row = {
            "component": component,
            "workload": workload,
            "demand": load[key],
            "unit": rates[key]["unit"],
            "per_core": rate,
            "placeholder": rates[key]["status"] == "placeholder",
            "replicas": need,
            "min": rule.min_replicas,
            "max": rule.max_replicas,
            "use_of_max": load[key] / (rate * rule.cores * rule.target * rule.max_replicas),
            "partitions": None,
        }
        if topic:
            row["partitions"] = parts[topic.replace(".", "-")]
            row["max"] = min(rule.max_replicas, row["partitions"])
            # one partition is read by one consumer: the hottest partition's share must fit one process
            hot = load[key] * DEMAND["hot_partition_share"] / (rate * rule.cores)
            row["use_of_max"] = max(load[key] / (rate * rule.cores * rule.target * row["max"]), hot)
        rows.append(row)
    return rows


def verification_cores(load: dict[str, float], rates: dict[str, dict[str, Any]]) -> float:
    """Cores that token verification takes across every service (hits from the cache, misses checked in full)."""
    miss = DEMAND["token_cache_miss"]
    hit_rate = rates["token_verification_cached"]["per_core"]
    miss_rate = rates["token_verification_uncached"]["per_core"]
    return load["verifications"] * ((1 - miss) / hit_rate + miss / miss_rate)


def _n(x: float) -> str:
    return f"{x:,.0f}" if x >= 100 else f"{x:,.1f}" if x >= 1 else f"{x:.2f}"


def render(rates: dict[str, dict[str, Any]], rules: dict[str, Rule], parts: dict[str, int], phf: float) -> str:
    out = [
        f"Peak-hour factor **{phf:.2f}** (the diurnal curve's busiest hour against its average), class-start burst "
        f"×{DEMAND['class_start_burst']:g}: the peak day's {PEAK_DAY_VIEWS:,} views are "
        f"{PEAK_DAY_VIEWS / 86_400:,.0f} views/s on average and **{demand(1, phf)['views']:,.0f} views/s** at the "
        "design peak.",
        "",
    ]
    scenarios = {"Peak day (89.97M views)": 1.0, "3× surge when schools close": 3.0}
    for title, surge in scenarios.items():
        load = demand(surge, phf)
        out += [
            f"### {title}",
            "",
            "| component | demand at peak | per-core rate | replicas needed | production min–max | use of max |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for r in plan(load, rates, rules, parts):
            mark = " (placeholder)" if r["placeholder"] else ""
            cap = f"{r['min']}–{r['max']}" + (f" ({r['partitions']} partitions)" if r["partitions"] else "")
            flag = " **saturated**" if r["use_of_max"] > 1 else ""
            out.append(
                f"| {r['component']} | {_n(r['demand'])} {r['unit']} | {_n(r['per_core'])}{mark} | {r['replicas']} | "
                f"{cap} | {r['use_of_max']:.0%}{flag} |"
            )
        first = max(plan(load, rates, rules, parts), key=lambda r: r["use_of_max"])
        out += [
            "",
            f"Token verification across all services: {verification_cores(load, rates):.2f} cores. "
            f"Saturates first: **{first['component']}** ({first['use_of_max']:.0%} of its production maximum).",
            "",
        ]
    morning = ACCOUNTS / (DEMAND["morning_hours"] * 3600)
    rule = rules["identity"]
    out += [
        "### 100 M accounts",
        "",
        "| figure | value |",
        "| --- | --- |",
        f"| all {ACCOUNTS:,} accounts log in over a {DEMAND['morning_hours']:g}-hour morning "
        f"| {morning:,.0f} logins/s |",
        f"| identity pods for that ({_n(rates['logins']['per_core'])} logins/s per core, {rule.cores:g} cores, "
        f"{rule.target:.0%} CPU) | {replicas(morning, rates['logins']['per_core'], rule)} "
        f"(production max {rule.max_replicas}) |",
        f"| account store (ESTIMATE, {DEMAND['account_bytes']:,} B per account) | "
        f"{ACCOUNTS * DEMAND['account_bytes'] / 1e9:,.0f} GB |",
        f"| sessions if every account is signed in (ESTIMATE, {DEMAND['session_bytes']} B each) | "
        f"{ACCOUNTS * DEMAND['session_bytes'] / 1e9:,.0f} GB |",
        "",
    ]
    return "\n".join(out)


def generated() -> str:
    return render(json.loads(RATES.read_text()), scaling_rules(), partitions(), peak_hour_factor())


def write(text: str) -> None:
    """Replace what lies between the markers of docs/CAPACITY.md (the prose around them is written by hand)."""
    head, _, rest = DOC.read_text().partition(BEGIN)
    _, _, tail = rest.partition(END)
    DOC.write_text(f"{head}{BEGIN}\n{text}\n{END}{tail}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write", action="store_true", help=f"replace the generated part of {DOC}")
    if parser.parse_args().write:
        write(generated())
        print(f"wrote {DOC}")
    else:
        print(generated())
    return 0


if __name__ == "__main__":
    sys.exit(main())
