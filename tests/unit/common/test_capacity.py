"""deploy/capacity.py: its arithmetic on a small case, docs/CAPACITY.md holds what it prints for the committed rates
and manifests, and every measured rate it uses is the figure docs/BENCHMARKS.md reports."""

from __future__ import annotations

import importlib.util
import json
import sys

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def capacity():
    sys.path.insert(0, str(ROOT / "deploy" / "local"))  # the diurnal curve of traffic.py
    spec = importlib.util.spec_from_file_location("capacity", ROOT / "deploy" / "capacity.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["capacity"] = module  # its dataclass looks its module up
    spec.loader.exec_module(module)
    return module


def test_replicas_partitions_and_saturation_on_a_small_case(capacity) -> None:
    Rule = capacity.Rule
    rules = {
        w: Rule(target=0.5, cores=1.0, min_replicas=1, max_replicas=10) for w, _, _ in capacity.COMPONENTS.values()
    }
    rates = {k: {"per_core": 10.0, "unit": "/s", "status": "measured"} for _, k, _ in capacity.COMPONENTS.values()}
    rates["checkins"]["status"] = "placeholder"
    load = {k: 40.0 for _, k, _ in capacity.COMPONENTS.values()} | {"aggregator": 100.0}
    rows = {r["component"]: r for r in capacity.plan(load, rates, rules, {"viewstats-views-v1": 4})}
    # 40/s at 10/s per core and a 50 % CPU target: 8 pods, 8 of the 10 allowed = 80 %
    assert rows["catalog"]["replicas"] == 8 and rows["catalog"]["use_of_max"] == pytest.approx(0.8)
    assert rows["classgroups (check-ins)"]["placeholder"] and not rows["catalog"]["placeholder"]
    # the aggregator: 20 pods wanted, but 4 partitions allow 4 consumers (4 × 5/s = 20/s of 100/s: 500 %), and its
    # hottest partition (28.6 %) alone is 28.6/s for one 10/s process
    agg = rows["aggregator"]
    assert (agg["replicas"], agg["max"], agg["partitions"]) == (20, 4, 4)
    assert agg["use_of_max"] == pytest.approx(5.0)
    assert capacity.replicas(0.1, 10.0, rules["catalog"]) == 1


def test_demand_scales_with_the_surge_and_the_peak_hour(capacity) -> None:
    one, three = capacity.demand(1, 2.0), capacity.demand(3, 2.0)
    assert one["views"] == pytest.approx(89_970_000 / 86_400 * 2.0 * capacity.DEMAND["class_start_burst"])
    assert {k: three[k] / one[k] for k in one} == pytest.approx({k: 3.0 for k in one})
    assert capacity.peak_hour_factor() == pytest.approx(7.5 / (96.3 / 24))


def test_the_document_holds_what_the_script_prints(capacity) -> None:
    doc = (ROOT / "docs" / "CAPACITY.md").read_text()
    inside = doc.split(capacity.BEGIN, 1)[1].split(capacity.END, 1)[0]
    assert inside.strip() == capacity.generated().strip(), "run `python deploy/capacity.py --write`"


def test_every_measured_rate_is_the_figure_of_the_benchmarks(capacity) -> None:
    benchmarks = (ROOT / "docs" / "BENCHMARKS.md").read_text()
    rates = json.loads(capacity.RATES.read_text())
    for name, rate in rates.items():
        if name.startswith("_"):
            continue
        assert rate["status"] in ("measured", "placeholder"), name
        if rate["status"] == "measured":
            assert rate["figure"] in benchmarks, f"{name}: {rate['figure']} is not in docs/BENCHMARKS.md"
