"""The Grafana dashboards (JSON model, schemaVersion 39) of the platform, GENERATED from the list of processes and
consumer groups in libs/common/topics.py, so that a new service or consumer group gets its dashboard and panels
without anyone writing them:

- ``platform-overview.json``: the hot path's throughput and freshness (views accepted and counted), the business
  figures (:data:`BUSINESS`), errors, latency, saturation (CPU, memory, readiness), Kafka lag, dead letters and
  outbox backlog, per service.
- ``service-<name>.json`` for every process kind: its business figures, RED per route, readiness, CPU and memory
  per pod, and, for a service with consumer groups, their lag, processing time and failures per group and
  partition, DLQ depth, outbox backlog.
- ``kafka-consumer-groups.json``: every group's lag, processing time, throughput and failures by partition.

    PYTHONPATH=libs python deploy/k8s/observability/dashboards.py --write     # `make dashboards`

Import them into Grafana (Dashboards → Import, or a provisioning folder / the Grafana operator's
GrafanaDashboard); each asks for its Prometheus data source. tests/unit/common/test_dashboards.py fails when the
committed files differ from what this writes; tests/ops/test_prometheus.py runs every query against a Prometheus
scraping a running stack. A query is written so that it returns a (zero) series whenever its subject exists: a
panel without data then means that something is missing, never that all is well.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from common.topics import CONSUMER_GROUPS, PRINCIPALS

OUT = Path(__file__).resolve().parent / "dashboards"
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
W = "[5m]"  # rate window: 20 scrapes at the ServiceMonitor's 15 s


# The business figures: what the platform does for schools, one panel each, on the overview and on its service's
# board. (service, title, unit, description, query, legend); the counters are ``common.observability.BusinessFigure``s
# exported at 0 from a process's start, so each query has a series per label value as soon as the service runs.
BUSINESS: tuple[tuple[str, str, str, str, str, str], ...] = (
    (
        "viewstats-collector",
        "Beacons accepted /s by kind",
        "ops",
        "Beacons the collector put on Kafka: page views (client retries included, which the aggregator removes) "
        "and teachers' watch-time heartbeats (学时).",
        f"sum by (kind) (rate(viewstats_beacons_accepted_total{W}))",
        "{{kind}}",
    ),
    (
        "viewstats",
        "Views counted /s",
        "ops",
        "Distinct page views the aggregator counted (浏览量), client retries removed.",
        f"sum(rate(viewstats_views_counted_total{W}))",
        "views",
    ),
    (
        "catalog",
        "Catalog reads /s by route",
        "reqps",
        "Resource pages, lists, search and the tree answered (304s included): what page views cost the catalog "
        "(a route appears with its first request).",
        'sum by (route) (rate(http_requests_total{service="catalog",method="GET",route=~"/v1/(resources|search|tree)'
        + '.*"}'
        + W
        + "))",
        "{{route}}",
    ),
    (
        "identity",
        "Logins /s by outcome",
        "ops",
        "Password logins: success, failure (wrong password, unknown account) and locked (429). A surge of failures "
        "is guessing; of locked, a school behind one NAT hitting the per-address limit.",
        f"sum by (outcome) (rate(identity_logins_total{W}))",
        "{{outcome}}",
    ),
    (
        "classgroups",
        "Check-ins submitted /s",
        "ops",
        "Check-ins (打卡) by students for themselves and by parents for their child.",
        f"sum by (submitted_by) (rate(classgroups_checkins_submitted_total{W}))",
        "by {{submitted_by}}",
    ),
    (
        "classgroups",
        "Course selections /s",
        "ops",
        "After-school course requests accepted (选课): select and drop, applied in arrival order per course.",
        f"sum by (kind) (rate(classgroups_course_selections_total{W}))",
        "{{kind}}",
    ),
    (
        "recommender",
        "Answers graded /s",
        "ops",
        "Exercise answers graded at submission (错题本 input), correct and wrong.",
        f"sum by (result) (rate(recommender_answers_graded_total{W}))",
        "{{result}}",
    ),
    (
        "recommender",
        "Recommendations served /s",
        "ops",
        "Recommended resources served, per list: personal push (for_me), similar, popular.",
        f"sum by (list) (rate(recommender_recommendations_served_total{W}))",
        "{{list}}",
    ),
)


def business_panels(board: Board, service: str | None) -> None:
    """The business figures of ``service`` (all of them: None)."""
    for owner, title, unit, description, expr, legend in BUSINESS:
        if service in (None, owner):
            board.panel(title, unit, description, (expr, legend))


def services() -> list[str]:
    return [p.name for p in PRINCIPALS]


def groups_of(service: str) -> list[str]:
    return [g.name for g in CONSUMER_GROUPS if g.service == service]


def zero_per(by: str, selector: str) -> str:
    """A zero series for every ``by`` value of the targets in ``selector`` (``or``-ed after a query that may have
    no series while nothing goes wrong, e.g. a rate of errors)."""
    return f"0 * sum by ({by}) ({selector})"


class Board:
    def __init__(self, uid: str, title: str, tags: list[str], description: str) -> None:
        self.uid, self.title, self.tags, self.description = uid, title, tags, description
        self.panels: list[dict[str, Any]] = []
        self._x = self._y = 0

    def row(self, title: str) -> None:
        self._y += 8 if self._x else 0
        self._x = 0
        self.panels.append(
            {
                "type": "row",
                "title": title,
                "id": len(self.panels) + 1,
                "collapsed": False,
                "gridPos": {"h": 1, "w": 24, "x": 0, "y": self._y},
                "panels": [],
            }
        )
        self._y += 1

    def panel(self, title: str, unit: str, description: str, *targets: tuple[str, str]) -> None:
        width = 8
        if self._x + width > 24:
            self._x, self._y = 0, self._y + 8
        self.panels.append(
            {
                "type": "timeseries",
                "title": title,
                "description": description,
                "id": len(self.panels) + 1,
                "datasource": DATASOURCE,
                "gridPos": {"h": 8, "w": width, "x": self._x, "y": self._y},
                "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
                "options": {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True}},
                "targets": [
                    {"datasource": DATASOURCE, "expr": expr, "legendFormat": legend, "refId": chr(ord("A") + i)}
                    for i, (expr, legend) in enumerate(targets)
                ],
            }
        )
        self._x += width

    def json(self) -> dict[str, Any]:
        return {
            "uid": self.uid,
            "title": self.title,
            "description": self.description,
            "tags": ["smartedu", *self.tags],
            "timezone": "browser",
            "schemaVersion": 39,
            "version": 1,
            "editable": True,
            "refresh": "30s",
            "time": {"from": "now-3h", "to": "now"},
            "templating": {
                "list": [
                    {
                        "name": "datasource",
                        "label": "Prometheus",
                        "type": "datasource",
                        "query": "prometheus",
                        "current": {},
                        "hide": 0,
                    }
                ]
            },
            "annotations": {"list": []},
            "links": [],
            "panels": self.panels,
        }


def consumer_panels(board: Board, selector: str) -> None:
    """Lag, processing time, throughput, failures and dead letters of the consumer groups in ``selector``."""
    lag = f"kafka_consumer_lag{{{selector}}}"
    board.panel(
        "Consumer lag by group and partition",
        "short",
        "Records between the group's position and the partition's end (KEDA scales on it). Rising: "
        "SmartEduConsumerLagGrowing.",
        (f"sum by (group, topic, partition) ({lag})", "{{group}} {{topic}}[{{partition}}]"),
    )
    board.panel(
        "Processing time p99 by group and partition",
        "s",
        "Time a delivery spends in its handler (retries of a store outage included).",
        (
            "histogram_quantile(0.99, sum by (group, partition, le) "
            f"(rate(kafka_consumer_processing_seconds_bucket{{{selector}}}{W})))",
            "{{group}}[{{partition}}]",
        ),
    )
    board.panel(
        "Records consumed /s by group",
        "ops",
        "Records the handlers accepted.",
        (
            f"sum by (group, topic) (rate(kafka_messages_consumed_total{{{selector}}}{W})) "
            f"or {zero_per('group, topic', lag)}",
            "{{group}} {{topic}}",
        ),
    )
    board.panel(
        "Handler failures /s by group and reason",
        "ops",
        "unavailable: store or Kafka down (retried); handler_error: refused records (towards the DLQ); malformed: "
        "undecodable records (straight to the DLQ). SmartEduHandlerFailures.",
        (
            f"sum by (group, reason) (rate(kafka_messages_failed_total{{{selector}}}{W})) or {zero_per('group', lag)}",
            "{{group}} {{reason}}",
        ),
    )
    board.panel(
        "Dead-letter topic depth by group",
        "short",
        "Records waiting in <group>.dlq for an operator (runbook SmartEduMessagesDeadLettered).",
        (f"max by (group, topic) (kafka_dlq_depth{{{selector}}})", "{{topic}}"),
    )
    board.panel(
        "Dead-lettered /s by group",
        "ops",
        "Records sent to the group's DLQ. SmartEduMessagesDeadLettered.",
        (
            f"sum by (group) (rate(kafka_messages_dead_lettered_total{{{selector}}}{W})) or {zero_per('group', lag)}",
            "{{group}}",
        ),
    )


def overview() -> Board:
    b = Board(
        "smartedu-overview",
        "SmartEdu: platform overview",
        ["overview"],
        "The hot path's throughput and freshness, errors and saturation of every service.",
    )
    up = 'up{platform="smartedu"}'
    b.row("Hot path: views")
    b.panel(
        "Views accepted and counted /s",
        "ops",
        "View beacons the collector accepted against distinct views the aggregator counted: the two lines part "
        "when counting falls behind (SmartEduViewsNotCounted), or by the share of client retries.",
        (f'sum(rate(viewstats_beacons_accepted_total{{kind="view"}}{W}))', "beacons accepted"),
        (f"sum(rate(viewstats_views_counted_total{W}))", "views counted"),
    )
    b.panel(
        "Aggregator lag (freshness)",
        "short",
        "Views accepted but not yet counted, by partition of viewstats.views.v1.",
        ('sum by (partition) (kafka_consumer_lag{group="viewstats-aggregator"})', "partition {{partition}}"),
    )
    b.panel(
        "Collector latency p99",
        "s",
        "POST /v1/views waits for Kafka's acknowledgement (SmartEduCollectorSlow above 0.5 s).",
        (
            "histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket"
            '{service="viewstats-collector",route="/v1/views"}' + W + ")))",
            "p99",
        ),
    )
    b.row("Business figures")
    business_panels(b, None)
    b.row("Traffic and errors")
    b.panel(
        "Requests /s by service",
        "reqps",
        "Every HTTP answer, probes excluded.",
        (f"sum by (service) (rate(http_requests_total{W})) or {zero_per('service', up)}", "{{service}}"),
    )
    b.panel(
        "5xx ratio by service",
        "percentunit",
        "Share of answers that are 5xx (SmartEduHighErrorRatio above 2 %).",
        (
            f'(sum by (service) (rate(http_requests_total{{status=~"5.."}}{W})) '
            f"or {zero_per('service', f'rate(http_requests_total{W})')}) "
            f"/ sum by (service) (rate(http_requests_total{W}))",
            "{{service}}",
        ),
    )
    b.panel(
        "Latency p99 by service",
        "s",
        "Over every route of the service.",
        (
            f"histogram_quantile(0.99, sum by (service, le) (rate(http_request_duration_seconds_bucket{W})))",
            "{{service}}",
        ),
    )
    b.row("Saturation and health")
    b.panel(
        "Pods up and ready by service",
        "short",
        "Scraped pods (SmartEduProcessDown at 0) and pods whose readiness check passes (SmartEduNotReady).",
        (f"sum by (service) ({up})", "{{service}} up"),
        ("sum by (service) (service_ready)", "{{service}} ready"),
    )
    b.panel(
        "CPU by service",
        "percentunit",
        "Cores used (1 = one core), all pods of the service.",
        (f'sum by (service) (rate(process_cpu_seconds_total{{platform="smartedu"}}{W}))', "{{service}}"),
    )
    b.panel(
        "Resident memory by service",
        "bytes",
        "All pods of the service.",
        ('sum by (service) (process_resident_memory_bytes{platform="smartedu"})', "{{service}}"),
    )
    b.row("Events")
    b.panel(
        "Consumer lag by group",
        "short",
        "Summed over partitions and pods (details: the Kafka consumer groups dashboard).",
        ("sum by (group) (kafka_consumer_lag)", "{{group}}"),
    )
    b.panel(
        "Dead-letter topic depth by group",
        "short",
        "Records waiting in <group>.dlq.",
        ("max by (group) (kafka_dlq_depth)", "{{group}}"),
    )
    b.panel(
        "Outbox backlog and publish errors by service",
        "short",
        "Stored events not yet on Kafka (SmartEduOutboxBacklog) and failed publishes /s (SmartEduProducerErrors).",
        ("max by (service) (outbox_pending_events)", "{{service}} pending"),
        (
            f"sum by (service) (rate(kafka_producer_errors_total{W})) or {zero_per('service', up)}",
            "{{service}} publish errors /s",
        ),
    )
    return b


def service_board(name: str) -> Board:
    s = f'service="{name}"'
    up = f'up{{platform="smartedu",{s}}}'
    b = Board(
        f"smartedu-{name}",
        f"SmartEdu: {name}",
        ["service", name],
        f"The {name} process: RED per route, "
        "saturation per pod" + (", its consumer groups" if groups_of(name) else "") + ".",
    )
    if any(owner == name for owner, *_ in BUSINESS):
        b.row("Business figures")
        business_panels(b, name)
    b.row("Requests (RED)")
    b.panel(
        "Requests /s by route and status",
        "reqps",
        "Route templates, never raw paths.",
        (f"sum by (method, route, status) (rate(http_requests_total{{{s}}}{W}))", "{{method}} {{route}} {{status}}"),
    )
    b.panel(
        "5xx /s by route",
        "reqps",
        "Server errors; a 503 is the store or Kafka away, a 500 a bug (its problem+json has a trace id).",
        (
            f'sum by (route) (rate(http_requests_total{{{s},status=~"5.."}}{W})) '
            f"or {zero_per('route', f'rate(http_requests_total{{{s}}}{W})')}",
            "{{route}}",
        ),
    )
    b.panel(
        "Latency p50 and p99 by route",
        "s",
        "From the request's arrival to the response's start.",
        (
            f"histogram_quantile(0.5, sum by (route, le) (rate(http_request_duration_seconds_bucket{{{s}}}{W})))",
            "p50 {{route}}",
        ),
        (
            f"histogram_quantile(0.99, sum by (route, le) (rate(http_request_duration_seconds_bucket{{{s}}}{W})))",
            "p99 {{route}}",
        ),
    )
    b.row("Saturation")
    b.panel(
        "Pods up and ready",
        "short",
        "SmartEduProcessDown, SmartEduNotReady.",
        (f"sum({up})", "up"),
        (f"sum(service_ready{{{s}}})", "ready"),
    )
    b.panel(
        "CPU by pod",
        "percentunit",
        "Cores used; the HPA/ScaledObject targets 60-70 % of the request.",
        (f"sum by (pod) (rate(process_cpu_seconds_total{{{s}}}{W}))", "{{pod}}"),
    )
    b.panel(
        "Resident memory by pod",
        "bytes",
        "Against the container's limit (deploy/k8s).",
        (f"sum by (pod) (process_resident_memory_bytes{{{s}}})", "{{pod}}"),
    )
    b.panel(
        "Outbox backlog and publish errors",
        "short",
        "Stored events not yet on Kafka, failed publishes /s (SmartEduOutboxBacklog, SmartEduProducerErrors).",
        (f"max(outbox_pending_events{{{s}}}) or {zero_per('service', up)}", "pending"),
        (f"sum(rate(kafka_producer_errors_total{{{s}}}{W})) or {zero_per('service', up)}", "publish errors /s"),
    )
    if groups_of(name):
        b.row("Consumer groups")
        consumer_panels(b, s)
    return b


def consumer_groups() -> Board:
    b = Board(
        "smartedu-kafka-consumer-groups",
        "SmartEdu: Kafka consumer groups",
        ["kafka"],
        "Every consumer group of the platform: " + ", ".join(g.name for g in CONSUMER_GROUPS) + ".",
    )
    b.row("All groups")
    consumer_panels(b, "")
    return b


def boards() -> dict[str, dict[str, Any]]:
    out = {"platform-overview.json": overview().json(), "kafka-consumer-groups.json": consumer_groups().json()}
    for name in services():
        out[f"service-{name}.json"] = service_board(name).json()
    return out


def render(board: dict[str, Any]) -> str:
    return json.dumps(board, indent=2, ensure_ascii=False) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write", action="store_true", help=f"write the dashboards into {OUT}")
    args = parser.parse_args()
    generated = boards()
    if not args.write:
        print("\n".join(sorted(generated)))
        return 0
    OUT.mkdir(exist_ok=True)
    for stale in set(p.name for p in OUT.glob("*.json")) - set(generated):
        (OUT / stale).unlink()
    for name, board in generated.items():
        (OUT / name).write_text(render(board))
    print(f"wrote {len(generated)} dashboards into {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
