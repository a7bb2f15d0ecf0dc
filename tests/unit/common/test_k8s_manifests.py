"""The Kubernetes manifests under deploy/k8s agree with the code they deploy.

What is checked is what breaks silently in a cluster: a factory renamed in the code, an environment variable
that no settings class reads (pydantic-settings ignores unknown ones), a credential in a ConfigMap, a KEDA
trigger on a consumer group or topic that does not exist or with more replicas than partitions, an alert on a
metric nobody exports, a kustomization naming a file that is gone.
"""

from __future__ import annotations

import ast
import functools
import importlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import yaml

from common.auth import AuthSettings
from common.settings import ServiceSettings
from common.topics import CONSUMER_GROUPS, PRINCIPALS, TOPICS, all_topics, principal_of, render_k8s

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[3]
K8S = ROOT / "deploy" / "k8s"
BASE = K8S / "base"
OVERLAYS = sorted(p.parent for p in (K8S / "overlays").glob("*/kustomization.yaml"))
WORKLOAD_KINDS = ("Deployment", "StatefulSet")
SECRET_SETTINGS = re.compile(r"^(MONGODB_URL|KAFKA_SASL_PASSWORD|IDENTITY_.*_KEYS?)$")
OUR_METRIC = re.compile(r"\b(?:http|kafka|viewstats)_[a-z0-9_]+\b")

Doc = dict[str, Any]


# --- loading -----------------------------------------------------------------------------------------------
def _docs(path: Path) -> list[Doc]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


@functools.cache
def _kustomization(kdir: Path) -> Doc:
    return yaml.safe_load((kdir / "kustomization.yaml").read_text()) or {}


def _all_kustomizations() -> list[Path]:
    return sorted(p.parent for p in K8S.rglob("kustomization.yaml"))


def _resource_files(kdir: Path) -> list[Path]:
    """The files a kustomization's ``resources`` pull in, following folders that are kustomizations."""
    out: list[Path] = []
    for entry in _kustomization(kdir).get("resources", []):
        target = (kdir / entry).resolve()
        out += _resource_files(target) if target.is_dir() else [target]
    return out


def _generators(kdir: Path) -> Iterator[tuple[Path, Doc]]:
    """Every configMapGenerator entry of a kustomization and of the kustomizations it includes."""
    for entry in _kustomization(kdir).get("configMapGenerator", []):
        yield kdir, entry
    for entry in _kustomization(kdir).get("resources", []):
        target = (kdir / entry).resolve()
        if target.is_dir():
            yield from _generators(target)


def _literals(entry: Doc) -> dict[str, str]:
    return dict(item.split("=", 1) for item in entry.get("literals", []))


@functools.cache
def _base_docs() -> tuple[Doc, ...]:
    return tuple(d for f in _resource_files(BASE) for d in _docs(f))


def _of_kind(docs: tuple[Doc, ...] | list[Doc], *kinds: str) -> list[Doc]:
    return [d for d in docs if d.get("kind") in kinds]


def _base_workloads() -> list[Doc]:
    return _of_kind(_base_docs(), *WORKLOAD_KINDS)


def _all_resource_workloads() -> list[Doc]:
    """Base workloads plus whole workloads an overlay adds (not its patches)."""
    docs = {id(d): d for d in _base_workloads()}
    for overlay in OVERLAYS:
        for f in _resource_files(overlay):
            if BASE not in f.parents:
                for d in _of_kind(_docs(f), *WORKLOAD_KINDS):
                    docs[id(d)] = d
    return list(docs.values())


def _patch_docs() -> list[tuple[Path, Doc]]:
    out = []
    for kdir in _all_kustomizations():
        for patch in _kustomization(kdir).get("patches", []):
            if "path" in patch:
                out += [(kdir, d) for d in _docs(kdir / patch["path"])]
    return out


def _containers(workload: Doc) -> list[Doc]:
    return workload["spec"]["template"]["spec"]["containers"]


def _factory(container: Doc) -> str:
    command = container["command"]
    assert command[0] == "uvicorn", f"{container['name']}: not started by uvicorn: {command}"
    return command[command.index("--factory") + 1]


def _option(container: Doc, flag: str) -> str | None:
    command = container["command"]
    return command[command.index(flag) + 1] if flag in command else None


def _is_service(workload: Doc) -> bool:
    """A platform process built with ServiceKit (has /healthz, /readyz, /metrics), not a helper like a fake."""
    return all(_factory(c).endswith(":create_app") for c in _containers(workload))


def _settings_class(factory: str) -> type[ServiceSettings]:
    package = factory.split(".", 1)[0]
    module = importlib.import_module(f"{package}.settings")
    classes = [
        obj
        for obj in vars(module).values()
        if isinstance(obj, type) and issubclass(obj, ServiceSettings) and obj.__module__ == module.__name__
    ]
    assert len(classes) == 1, f"{module.__name__}: expected one ServiceSettings subclass, found {classes}"
    return classes[0]


def _env_names(cls: type[Any]) -> set[str]:
    """The variable each field is documented under (README settings table): its alias when it has one (the
    shared ServiceSettings fields, read without a prefix), else env_prefix + field name, upper-cased."""
    prefix = cls.model_config.get("env_prefix", "")
    names = set()
    for name, field in cls.model_fields.items():
        alias = field.validation_alias
        names.add(alias.upper() if isinstance(alias, str) else f"{prefix}{name}".upper())
    return names


def _valid_env(factory: str) -> set[str]:
    return _env_names(_settings_class(factory)) | _env_names(AuthSettings)


def _workload_factories() -> dict[str, str]:
    return {w["metadata"]["name"]: _factory(_containers(w)[0]) for w in _all_resource_workloads()}


def _configmap_users() -> dict[str, list[str]]:
    """ConfigMap name → factories of the workloads that load it with envFrom."""
    users: dict[str, list[str]] = {}
    for w in _all_resource_workloads():
        for c in _containers(w):
            for source in c.get("envFrom", []):
                if "configMapRef" in source:
                    users.setdefault(source["configMapRef"]["name"], []).append(_factory(c))
    return users


def _base_config() -> dict[str, dict[str, str]]:
    """The base's generated ConfigMaps, name → data."""
    return {entry["name"]: _literals(entry) for _, entry in _generators(BASE)}


def _workload_env(workload_name: str) -> dict[str, str]:
    """Literal environment of a base workload: its ConfigMaps (envFrom, in order), then its plain ``value``s."""
    config = _base_config()
    env: dict[str, str] = {}
    for c in _containers(next(w for w in _base_workloads() if w["metadata"]["name"] == workload_name)):
        for source in c.get("envFrom", []):
            env.update(config.get(source.get("configMapRef", {}).get("name", ""), {}))
        env.update({e["name"]: e["value"] for e in c.get("env", []) if "value" in e})
    return env


def _labels_match(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


# --- kustomize -----------------------------------------------------------------------------------------------
def test_every_kustomization_names_what_exists() -> None:
    assert (BASE / "kustomization.yaml").exists() and OVERLAYS, "deploy/k8s needs base/ and overlays/*"
    for kdir in _all_kustomizations():
        k = _kustomization(kdir)
        for entry in k.get("resources", []):
            target = kdir / entry
            assert target.is_file() or (target / "kustomization.yaml").is_file(), f"{kdir}: resource {entry} missing"
        for patch in k.get("patches", []):
            assert "path" in patch or "patch" in patch, f"{kdir}: patch without path or patch"
            if "path" in patch:
                assert (kdir / patch["path"]).is_file(), f"{kdir}: patch {patch['path']} missing"
        for gen in k.get("configMapGenerator", []) + k.get("secretGenerator", []):
            for f in gen.get("envs", []) + gen.get("files", []):
                assert (kdir / f.split("=")[-1]).is_file(), f"{kdir}: generator file {f} missing"


def test_the_base_includes_the_generated_kafka_resources_and_every_process_folder() -> None:
    resources = _kustomization(BASE)["resources"]
    for name in ("kafka-topics.yaml", "kafka-users.yaml"):
        assert f"kafka/{name}" in resources, f"base/kustomization.yaml does not include kafka/{name}"
    folders = {p.parent.name for p in BASE.glob("*/kustomization.yaml")}
    assert folders <= set(resources), f"folders left out of base/kustomization.yaml: {folders - set(resources)}"


def test_overlay_patches_and_merges_target_what_the_base_defines() -> None:
    base_ids = {(d["kind"], d["metadata"]["name"]) for d in _base_docs()}
    base_kinds = {kind for kind, _ in base_ids}
    for kdir, doc in _patch_docs():
        key = (doc["kind"], doc["metadata"]["name"])
        assert key in base_ids, f"{kdir}: patch of {key}, which the base does not define"
    for overlay in OVERLAYS:
        for patch in _kustomization(overlay).get("patches", []):
            if "target" in patch:
                assert patch["target"]["kind"] in base_kinds, (
                    f"{overlay}: patch target {patch['target']} matches nothing"
                )
        base_config = _base_config()
        for gen in _kustomization(overlay).get("configMapGenerator", []):
            if gen.get("behavior") in ("merge", "replace"):
                assert gen["name"] in base_config, f"{overlay}: merges into ConfigMap {gen['name']}, not in the base"


# --- workloads -----------------------------------------------------------------------------------------------
def test_every_app_of_every_service_has_a_workload() -> None:
    factories = set(_workload_factories().values())
    apps = []
    for path in sorted((ROOT / "services").glob("*/*.py")):
        if path.stem != "app" and not path.stem.endswith("_app"):
            continue
        tree = ast.parse(path.read_text())
        if any(isinstance(n, ast.FunctionDef) and n.name == "create_app" for n in tree.body):
            apps.append(f"{path.parent.name}.{path.stem}:create_app")
    for service in (ROOT / "services").iterdir():
        if (service / "app.py").exists():
            assert f"{service.name}.app:create_app" in apps, f"services/{service.name}/app.py has no create_app()"
    missing = sorted(set(apps) - factories)
    assert not missing, f"no Deployment/StatefulSet under deploy/k8s runs {missing}"


@pytest.mark.parametrize("factory", sorted(set(_workload_factories().values())))
def test_every_factory_exists(factory: str) -> None:
    module, _, attr = factory.partition(":")
    assert callable(getattr(importlib.import_module(module), attr, None)), f"{module} has no factory {attr}()"


def test_workloads_run_the_one_image_on_their_declared_port() -> None:
    for w in _all_resource_workloads():
        for c in _containers(w):
            image = c["image"]
            assert image.split(":")[0] == "smartedu/platform", f"{w['metadata']['name']}: image {image}"
            ports = {p["name"]: p["containerPort"] for p in c["ports"]}
            assert str(ports["http"]) == _option(c, "--port"), f"{c['name']}: --port is not the http containerPort"


@pytest.mark.parametrize("workload", [w["metadata"]["name"] for w in _all_resource_workloads()])
def test_every_environment_variable_is_a_setting_of_its_service(workload: str) -> None:
    factory = _workload_factories()[workload]
    workloads = [w for w in _all_resource_workloads() if w["metadata"]["name"] == workload]
    patches = [d for _, d in _patch_docs() if d["kind"] in WORKLOAD_KINDS and d["metadata"]["name"] == workload]
    names = [
        e["name"]
        for doc in workloads + patches
        for c in doc["spec"]["template"]["spec"].get("containers", [])
        for e in c.get("env", [])
    ]
    # read only when there are variables: a dev tool outside the services (the fake teacher registry) has none,
    # and no settings class either
    valid = _valid_env(factory) if names else set()
    for name in names:
        assert name in valid, f"{workload}: {name} is read by no settings class of {factory}"


def test_every_generated_configmap_holds_settings_of_every_process_that_loads_it() -> None:
    users = _configmap_users()
    for kdir in _all_kustomizations():
        for gen in _kustomization(kdir).get("configMapGenerator", []):
            assert gen["name"] in users, f"{kdir}: ConfigMap {gen['name']} is loaded by no workload"
            for factory in users[gen["name"]]:
                unknown = set(_literals(gen)) - _valid_env(factory)
                assert not unknown, f"{kdir}: ConfigMap {gen['name']} sets {sorted(unknown)}, unread by {factory}"


def test_credentials_come_only_from_secret_references() -> None:
    for path in K8S.rglob("*.yaml"):
        for doc in _docs(path):
            assert doc.get("kind") != "Secret", f"{path}: a Secret with its values in the repository"
            if path.name == "kustomization.yaml":
                assert not doc.get("secretGenerator"), f"{path}: secretGenerator puts values in the repository"
                for gen in doc.get("configMapGenerator", []):
                    leaked = [k for k in _literals(gen) if SECRET_SETTINGS.match(k)]
                    assert not leaked, f"{path}: {leaked} in ConfigMap {gen['name']}"
    for w in _all_resource_workloads():
        for c in _containers(w):
            env = {e["name"]: e for e in c.get("env", [])}
            for name, e in env.items():
                if SECRET_SETTINGS.match(name):
                    assert "secretKeyRef" in e.get("valueFrom", {}), (
                        f"{w['metadata']['name']}: {name} not from a Secret"
                    )
            if _is_service(w):
                # Without it a service connects to mongodb://127.0.0.1:27017 and never becomes ready.
                assert "MONGODB_URL" in env, f"{w['metadata']['name']}: MONGODB_URL not set"
                keys = {v for v in _valid_env(_factory(c)) if SECRET_SETTINGS.match(v)} - {"MONGODB_URL"}
                assert keys <= set(env), f"{w['metadata']['name']}: keys left at their dev defaults: {keys - set(env)}"


def test_kafka_users_are_the_declared_principals_and_their_acls() -> None:
    """base/kafka is what `make k8s` renders from common.topics now (the local broker gets the same ACLs)."""
    for name, text in render_k8s().items():
        assert (BASE / "kafka" / name).read_text().split("\n", 1)[1] == text, f"base/kafka/{name}: run `make k8s`"
    users = {d["metadata"]["name"]: d for d in _of_kind(_base_docs(), "KafkaUser")}
    assert set(users) == {p.name for p in PRINCIPALS}
    assert all(u["spec"]["authentication"]["type"] == "scram-sha-512" for u in users.values())


def test_every_service_logs_in_to_kafka_as_its_own_principal_over_tls() -> None:
    common = _base_config()["smartedu-common"]
    assert common["KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL" and common["KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512"
    for w in _all_resource_workloads():
        if not _is_service(w):
            continue
        name, (c,) = w["metadata"]["name"], _containers(w)
        principal = principal_of(_factory(c)).name
        env = {e["name"]: e for e in c.get("env", [])}
        assert env["KAFKA_SASL_USERNAME"].get("value") == principal, name
        assert env["KAFKA_SASL_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": principal, "key": "password"}, name
        mounts = {m["mountPath"]: m["name"] for m in c.get("volumeMounts", [])}
        volumes = {v["name"]: v for v in w["spec"]["template"]["spec"]["volumes"]}
        ca = mounts[str(Path(common["KAFKA_SSL_CAFILE"]).parent)]
        assert volumes[ca]["secret"]["secretName"] == "smartedu-cluster-ca-cert", name


def test_keda_reads_kafka_lag_with_the_scaled_processs_principal() -> None:
    auths = {d["metadata"]["name"]: d["spec"] for d in _of_kind(_base_docs(), "TriggerAuthentication")}
    factories = _workload_factories()
    for so in _scaled_objects():
        principal = principal_of(factories[so["spec"]["scaleTargetRef"]["name"]]).name
        for trigger in so["spec"]["triggers"]:
            if trigger["type"] != "kafka":
                continue
            assert (trigger["metadata"]["sasl"], trigger["metadata"]["tls"]) == ("scram_sha512", "enable")
            auth = auths[trigger["authenticationRef"]["name"]]
            secrets = {r["parameter"]: (r["name"], r["key"]) for r in auth["secretTargetRef"]}
            assert secrets["password"] == (principal, "password")
            assert secrets["ca"] == ("smartedu-cluster-ca-cert", "ca.crt")
            assert {e["parameter"]: e["name"] for e in auth["env"]}["username"] == "KAFKA_SASL_USERNAME"


def test_probes_point_at_the_chassis_endpoints() -> None:
    for w in _all_resource_workloads():
        if not _is_service(w):
            continue
        for c in _containers(w):
            name = w["metadata"]["name"]
            assert c["readinessProbe"]["httpGet"]["path"] == "/readyz", name
            assert c["livenessProbe"]["httpGet"]["path"] == "/healthz", name
            assert c["startupProbe"]["httpGet"]["path"] == "/healthz", name
            for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
                assert c[probe]["httpGet"]["port"] in ("http", 8080), f"{name}: {probe} port"


def test_termination_grace_outlasts_the_stop_sequence() -> None:
    default_grace = ServiceSettings.model_fields["shutdown_grace_seconds"].default
    for w in _base_workloads():
        env = _workload_env(w["metadata"]["name"])
        grace = float(env.get("SHUTDOWN_GRACE_SECONDS", default_grace))
        pod = w["spec"]["template"]["spec"]
        for c in pod["containers"]:
            pre_stop = c["lifecycle"]["preStop"]["exec"]["command"]
            assert pre_stop[0] == "sleep", f"{c['name']}: preStop should sleep while endpoints drain"
            http_drain = float(_option(c, "--timeout-graceful-shutdown") or 0)
            needed = float(pre_stop[1]) + http_drain + grace
            assert pod["terminationGracePeriodSeconds"] > needed, (
                f"{c['name']}: terminationGracePeriodSeconds {pod['terminationGracePeriodSeconds']} ≤ preStop "
                f"{pre_stop[1]} + uvicorn {http_drain} + SHUTDOWN_GRACE_SECONDS {grace}"
            )


def test_pods_are_locked_down() -> None:
    for w in _all_resource_workloads():
        pod = w["spec"]["template"]["spec"]
        name = w["metadata"]["name"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod.get("automountServiceAccountToken") is False, name
        tmp_volumes = {v["name"] for v in pod.get("volumes", []) if "emptyDir" in v}
        for c in pod["containers"]:
            sc = c["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True, name
            assert sc["allowPrivilegeEscalation"] is False, name
            assert "ALL" in sc["capabilities"]["drop"], name
            mounts = {m["mountPath"]: m["name"] for m in c.get("volumeMounts", [])}
            assert mounts.get("/tmp") in tmp_volumes, f"{name}: /tmp must be a writable emptyDir"
            for bound in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(c["resources"][bound]), f"{name}: resources.{bound}"


def test_every_process_has_a_service_a_budget_an_autoscaler_and_spreads() -> None:
    docs = _base_docs()
    services = _of_kind(docs, "Service")
    budgets = _of_kind(docs, "PodDisruptionBudget")
    scalers = _of_kind(docs, "HorizontalPodAutoscaler", "ScaledObject")
    for w in _base_workloads():
        name, kind = w["metadata"]["name"], w["kind"]
        labels = w["spec"]["template"]["metadata"]["labels"]
        assert _labels_match(w["spec"]["selector"]["matchLabels"], labels), name
        ports = {p["name"] for c in _containers(w) for p in c["ports"]}
        mine = [s for s in services if _labels_match(s["spec"]["selector"], labels)]
        assert mine, f"{name}: no Service selects its pods"
        for s in mine:
            assert all(p["targetPort"] in ports for p in s["spec"]["ports"]), f"{s['metadata']['name']}: targetPort"
        assert any(_labels_match(b["spec"]["selector"]["matchLabels"], labels) for b in budgets), f"{name}: no PDB"
        targets = [
            s for s in scalers if s["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": kind, "name": name}
        ]
        assert len(targets) == 1, f"{name}: expected one HPA or ScaledObject, found {len(targets)}"
        assert "replicas" not in w["spec"], f"{name}: spec.replicas would fight its autoscaler on every apply"
        spread = w["spec"]["template"]["spec"]["topologySpreadConstraints"]
        assert {t["topologyKey"] for t in spread} >= {"topology.kubernetes.io/zone", "kubernetes.io/hostname"}, name
        assert all(_labels_match(t["labelSelector"]["matchLabels"], labels) for t in spread), name


# --- Kafka and KEDA ------------------------------------------------------------------------------------------
def _scaled_objects() -> list[Doc]:
    return _of_kind(_base_docs(), "ScaledObject")


def test_keda_lag_triggers_name_declared_groups_and_topics() -> None:
    prefix = _base_config()["smartedu-common"].get("KAFKA_CLIENT_PREFIX", "")
    groups = {prefix + g.name: g for g in CONSUMER_GROUPS}
    topics = {t.name: t for t in TOPICS}
    factories = _workload_factories()
    lag_triggers = 0
    for so in _scaled_objects():
        service = factories[so["spec"]["scaleTargetRef"]["name"]].split(".", 1)[0]
        for trigger in so["spec"]["triggers"]:
            if trigger["type"] != "kafka":
                continue
            lag_triggers += 1
            meta = trigger["metadata"]
            name = so["metadata"]["name"]
            group = groups.get(meta["consumerGroup"])
            assert group is not None, f"{name}: consumer group {meta['consumerGroup']} is not in common.topics"
            assert not group.per_replica, f"{name}: {group.name} is per replica: its lag says nothing about scale"
            assert group.service == service, f"{name}: group {group.name} belongs to {group.service}"
            assert meta["topic"] in topics and meta["topic"] in group.topics, f"{name}: topic {meta['topic']}"
            assert int(meta["lagThreshold"]) == group.lag_threshold, f"{name}: lagThreshold ≠ common.topics"
            assert meta.get("allowIdleConsumers", "false") == "false", name
    assert lag_triggers, "no KEDA Kafka trigger at all"


def test_no_scaled_object_exceeds_its_topics_partitions() -> None:
    partitions = {t.name: t.partitions for t in all_topics()}
    bound: dict[str, int] = {}
    for so in _scaled_objects():
        topics = [t["metadata"]["topic"] for t in so["spec"]["triggers"] if t["type"] == "kafka"]
        if topics:
            bound[so["metadata"]["name"]] = min(partitions[t] for t in topics)
    candidates = [("base", so) for so in _scaled_objects()]
    candidates += [(str(kdir), d) for kdir, d in _patch_docs() if d["kind"] == "ScaledObject"]
    for where, so in candidates:
        name = so["metadata"]["name"]
        spec = so["spec"]
        if name in bound and "maxReplicaCount" in spec:
            assert spec["maxReplicaCount"] <= bound[name], f"{where}: {name} max {spec['maxReplicaCount']} > partitions"
        if "maxReplicaCount" in spec and "minReplicaCount" in spec:
            assert spec["minReplicaCount"] <= spec["maxReplicaCount"], f"{where}: {name}"


def test_viewstats_processes_agree_with_the_topics_and_the_trigger() -> None:
    defaults = {
        k: str(v.default) for k, v in _settings_class("viewstats.app:create_app").model_fields.items() if v.default
    }
    aggregator, collector = _workload_env("viewstats"), _workload_env("viewstats-collector")
    views = aggregator.get("VIEWSTATS_VIEWS_TOPIC", defaults["views_topic"])
    assert collector.get("VIEWSTATS_VIEWS_TOPIC", defaults["views_topic"]) == views
    assert collector.get("VIEWSTATS_HEARTBEATS_TOPIC", defaults["heartbeats_topic"]) == aggregator.get(
        "VIEWSTATS_HEARTBEATS_TOPIC", defaults["heartbeats_topic"]
    )
    declared = {t.name: t for t in TOPICS}
    assert views in declared
    # Queries sum one shard per partition: fewer would drop counts, more would read shards nobody writes.
    assert int(aggregator.get("VIEWSTATS_PARTITIONS", defaults["partitions"])) == declared[views].partitions
    group = aggregator.get("KAFKA_CLIENT_PREFIX", "") + aggregator.get(
        "VIEWSTATS_AGGREGATOR_GROUP", defaults["aggregator_group"]
    )
    so = next(s for s in _scaled_objects() if s["spec"]["scaleTargetRef"]["name"] == "viewstats")
    kafka = [t["metadata"] for t in so["spec"]["triggers"] if t["type"] == "kafka"]
    heartbeats = aggregator.get("VIEWSTATS_HEARTBEATS_TOPIC", defaults["heartbeats_topic"])
    learning = aggregator.get("KAFKA_CLIENT_PREFIX", "") + "viewstats-learning"
    assert [(t["consumerGroup"], t["topic"]) for t in kafka] == [(group, views), (learning, heartbeats)]


def test_services_verify_the_tokens_identity_issues() -> None:
    common, identity = _base_config()["smartedu-common"], _workload_env("identity")
    assert common["AUTH_ISSUER"] == identity["IDENTITY_ISSUER"]
    assert common["AUTH_AUDIENCE"] == identity["IDENTITY_AUDIENCE"]
    jwks = urlparse(common["AUTH_JWKS_URL"])
    identity_pods = next(w for w in _base_workloads() if w["metadata"]["name"] == "identity")
    labels = identity_pods["spec"]["template"]["metadata"]["labels"]
    names = {
        s["metadata"]["name"] for s in _of_kind(_base_docs(), "Service") if _labels_match(s["spec"]["selector"], labels)
    }
    assert jwks.hostname in names and jwks.path == "/.well-known/jwks.json", common["AUTH_JWKS_URL"]


# --- observability -------------------------------------------------------------------------------------------
def _exported_metric_names() -> set[str]:
    from prometheus_client import REGISTRY

    importlib.import_module("common.observability")
    importlib.import_module("viewstats.aggregator")  # the aggregator's own counters
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "summary": ("_count", "_sum")}
    names = set()
    for family in REGISTRY.collect():
        names |= {family.name + s for s in suffixes.get(family.type, ("",))}
    return names


def test_alerts_and_triggers_use_metrics_that_exist() -> None:
    exported = _exported_metric_names()
    queries = []
    for rule in _of_kind(_base_docs(), "PrometheusRule"):
        queries += [(r["alert"], r["expr"]) for g in rule["spec"]["groups"] for r in g["rules"]]
    for so in _scaled_objects():
        queries += [
            (so["metadata"]["name"], t["metadata"]["query"])
            for t in so["spec"]["triggers"]
            if t["type"] == "prometheus"
        ]
    assert len(queries) >= 4
    for name, expr in queries:
        unknown = set(OUR_METRIC.findall(expr)) - exported
        assert not unknown, f"{name}: {sorted(unknown)} exported by no service"


def test_the_service_monitor_scrapes_every_process() -> None:
    monitors = _of_kind(_base_docs(), "ServiceMonitor")
    assert monitors
    services = _of_kind(_base_docs(), "Service")
    for w in _base_workloads():
        labels = w["spec"]["template"]["metadata"]["labels"]
        svc = next(s for s in services if _labels_match(s["spec"]["selector"], labels))
        ports = {p["name"] for p in svc["spec"]["ports"]}
        assert any(
            _labels_match(m["spec"]["selector"]["matchLabels"], svc["metadata"]["labels"])
            and any(e["path"] == "/metrics" and e["port"] in ports for e in m["spec"]["endpoints"])
            for m in monitors
        ), f"{svc['metadata']['name']}: /metrics is not scraped"


# Rendering with kustomize and validating against the Kubernetes and CRD schemas: tests/ops/test_manifests.py.
