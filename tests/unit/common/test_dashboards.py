"""The Grafana dashboards under deploy/k8s/observability/dashboards are what dashboards.py generates from the
processes and consumer groups of libs/common/topics.py: a new service or group cannot be left without its panels.
(Their queries run against a real Prometheus in tests/ops/test_prometheus.py.)"""

from __future__ import annotations

import importlib.util
import json

import pytest

from common.topics import CONSUMER_GROUPS, PRINCIPALS
from tests.conftest import ROOT

pytestmark = pytest.mark.unit
GENERATOR = ROOT / "deploy" / "k8s" / "observability" / "dashboards.py"


def _generator():
    spec = importlib.util.spec_from_file_location("dashboards", GENERATOR)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_committed_dashboards_are_the_generated_ones() -> None:
    gen = _generator()
    generated = gen.boards()
    committed = {p.name: p.read_text() for p in gen.OUT.glob("*.json")}
    assert set(committed) == set(generated), "run `make dashboards`"
    for name, board in generated.items():
        assert committed[name] == gen.render(board), f"{name} is stale: run `make dashboards`"


def test_every_process_has_its_dashboard_and_every_group_is_named() -> None:
    boards = _generator().boards()
    assert {"platform-overview.json", "kafka-consumer-groups.json"} <= set(boards)
    for p in PRINCIPALS:
        board = boards[f"service-{p.name}.json"]
        exprs = [t["expr"] for panel in board["panels"] for t in panel.get("targets", [])]
        assert any(f'service="{p.name}"' in e and "http_requests_total" in e for e in exprs)
        if any(g.service == p.name for g in CONSUMER_GROUPS):
            assert any("kafka_consumer_lag" in e for e in exprs), p.name
    assert all(g.name in boards["kafka-consumer-groups.json"]["description"] for g in CONSUMER_GROUPS)


def test_panels_are_valid_grafana_panels() -> None:
    for name, board in _generator().boards().items():
        ids = [p["id"] for p in board["panels"]]
        assert len(ids) == len(set(ids)), name
        for panel in board["panels"]:
            assert 0 <= panel["gridPos"]["x"] < 24 and panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24
            if panel["type"] != "row":
                assert panel["targets"] and panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        json.dumps(board)  # serialisable


def test_every_business_figure_has_a_panel_on_the_overview_and_on_its_service_board() -> None:
    import classgroups.api.checkins
    import classgroups.api.courses  # noqa: F401
    import identity.api.accounts  # noqa: F401
    import recommender.api  # noqa: F401
    import viewstats.collector.api  # noqa: F401
    from common.observability import BusinessFigure

    gen = _generator()
    boards = gen.boards()

    def exprs(board: str) -> str:
        return "\n".join(t["expr"] for panel in boards[board]["panels"] for t in panel.get("targets", []))

    figures = {f.name: f for f in BusinessFigure.declared}
    assert len(figures) >= 6
    for name in figures:
        owners = {owner for owner, *_, expr, _ in gen.BUSINESS if f"{name}{{" in expr or f"{name}[" in expr}
        assert len(owners) == 1, (name, owners)
        service = owners.pop()
        assert f"{name}{{" in exprs("platform-overview.json") or f"{name}[" in exprs("platform-overview.json"), name
        assert name in exprs(f"service-{service}.json"), name


def test_a_business_figure_exports_zero_for_each_value_and_refuses_an_undeclared_one() -> None:
    from prometheus_client import REGISTRY

    from common.observability import BusinessFigure

    figure = BusinessFigure("test_unit_figures_total", "a figure of this test", "outcome", ("yes", "no"))
    assert REGISTRY.get_sample_value("test_unit_figures_total", {"outcome": "no"}) == 0
    figure.count("yes", 3)
    assert REGISTRY.get_sample_value("test_unit_figures_total", {"outcome": "yes"}) == 3
    with pytest.raises(ValueError, match="maybe"):
        figure.count("maybe")  # a free-form value (an id, a message) would grow the series without bound
    assert REGISTRY.get_sample_value("test_unit_figures_total", {"outcome": "maybe"}) is None
    REGISTRY.unregister(figure.counter)
    BusinessFigure.declared.remove(figure)
