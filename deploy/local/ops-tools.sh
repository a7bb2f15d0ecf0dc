#!/usr/bin/env bash
# The operators' tools, provisioned like Kafka and FerretDB: by `make` (`make ops-tools`, part of `make provision`),
# into the git-ignored cache, each from its own registry, pinned, downloaded once.
#
#   kustomize            sigs.k8s.io/kustomize/kustomize/v5, built from its Go module
#   kubernetes-validate  (PyPI) in an environment of its own: a tool, not a dependency of the services; it ships
#                        the Kubernetes JSON schemas of every minor version, so validation needs no network
#   CRD schemas          the CustomResourceDefinitions of the operators our manifests use, from the projects' own
#                        releases: KEDA and the Prometheus Operator ship theirs in their Go modules
#                        (config/crd/bases, example/prometheus-operator-crd), Strimzi generates its own from its
#                        API classes with its crd-generator (both on Maven Central), exactly as its release does
#   prometheus, promtool Debian's `prometheus` package, unpacked into the cache (no system service is installed
#                        or started; the binaries need only libc)
#
#   ops-tools.sh provision        what is missing (idempotent)
#   ops-tools.sh env              the tools' paths, as shell exports (tests read the same variables)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CACHE=${SMARTEDU_CACHE:-$ROOT/.cache}
KUSTOMIZE_VERSION=v5.6.0
KUBERNETES_VALIDATE_VERSION=1.37.0
STRIMZI_VERSION=0.45.0            # the KafkaTopic/KafkaUser API (v1beta2) of the Strimzi the cluster runs
KEDA_VERSION=v2.16.1
PROMETHEUS_OPERATOR_VERSION=v0.79.2
KUSTOMIZE=$CACHE/kustomize/$KUSTOMIZE_VERSION/kustomize
KUBEVAL_ENV=$CACHE/kubernetes-validate/$KUBERNETES_VALIDATE_VERSION
CRDS=$CACHE/k8s-crds/strimzi-$STRIMZI_VERSION-keda-$KEDA_VERSION-prometheus-operator-$PROMETHEUS_OPERATOR_VERSION
PROMETHEUS_DIR=$CACHE/prometheus

say() { printf '\033[1m[ops-tools]\033[0m %s\n' "$*"; }

go_module_dir() { # module@version: download it (the Go module proxy; an exact version, no listing) and print its dir
  (cd /tmp && GOFLAGS=-mod=mod go mod download -json "$1") | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p'
}

provision_kustomize() {
  [ -x "$KUSTOMIZE" ] && return
  say "building kustomize $KUSTOMIZE_VERSION from its Go module (first time only, ~1.5 min)"
  mkdir -p "$(dirname "$KUSTOMIZE")"
  GOBIN=$(dirname "$KUSTOMIZE") GOFLAGS=-mod=mod go install "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION"
}

provision_kubernetes_validate() {
  [ -f "$KUBEVAL_ENV/.complete" ] && return
  say "installing kubernetes-validate $KUBERNETES_VALIDATE_VERSION into $KUBEVAL_ENV (first time only, ~30 s)"
  rm -rf "$KUBEVAL_ENV"
  python3 -m venv "$KUBEVAL_ENV"
  "$KUBEVAL_ENV/bin/pip" install -q --disable-pip-version-check "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION"
  touch "$KUBEVAL_ENV/.complete"
}

provision_crds() {
  [ -f "$CRDS/.complete" ] && return
  say "collecting the CRDs of Strimzi $STRIMZI_VERSION, KEDA $KEDA_VERSION, Prometheus Operator $PROMETHEUS_OPERATOR_VERSION"
  rm -rf "$CRDS" && mkdir -p "$CRDS"
  local keda prom jars=$CRDS/.strimzi-jars
  keda=$(go_module_dir "github.com/kedacore/keda/v2@$KEDA_VERSION")
  prom=$(go_module_dir "github.com/prometheus-operator/prometheus-operator@$PROMETHEUS_OPERATOR_VERSION")
  cp "$keda"/config/crd/bases/keda.sh_{scaledobjects,triggerauthentications}.yaml "$CRDS/"
  cp "$prom"/example/prometheus-operator-crd/monitoring.coreos.com_{servicemonitors,prometheusrules}.yaml "$CRDS/"
  chmod u+w "$CRDS"/*.yaml   # copies of the read-only module cache
  local a
  for a in api crd-generator; do
    mvn -B -q -ntp dependency:copy -Dartifact="io.strimzi:$a:$STRIMZI_VERSION" -DoutputDirectory="$jars" \
      -Dmdep.stripVersion=true > "$CRDS/.mvn.log" 2>&1 || { cat "$CRDS/.mvn.log"; exit 1; }
  done
  java -cp "$jars/crd-generator.jar:$jars/api.jar" io.strimzi.crdgenerator.CrdGenerator --yaml \
    --crd-api-version v1 --api-versions v1beta2 --storage-version v1beta2 \
    "io.strimzi.api.kafka.model.topic.KafkaTopic=$CRDS/strimzi_kafkatopics.yaml" \
    "io.strimzi.api.kafka.model.user.KafkaUser=$CRDS/strimzi_kafkausers.yaml" 2> "$CRDS/.crd-generator.log" \
    || { cat "$CRDS/.crd-generator.log"; exit 1; }
  rm -rf "$jars"
  touch "$CRDS/.complete"
}

provision_prometheus() {
  [ -x "$PROMETHEUS_DIR/bin/prometheus" ] && [ -x "$PROMETHEUS_DIR/bin/promtool" ] && return
  say "unpacking Debian's prometheus package into $PROMETHEUS_DIR (first time only)"
  local tmp
  tmp=$(mktemp -d)
  (cd "$tmp" && { apt-get download prometheus 2>/dev/null || { apt-get update -qq && apt-get download prometheus; }; })
  dpkg-deb -x "$tmp"/prometheus_*.deb "$tmp/x"
  rm -rf "$PROMETHEUS_DIR" && mkdir -p "$PROMETHEUS_DIR/bin"
  cp "$tmp/x/usr/bin/prometheus" "$tmp/x/usr/bin/promtool" "$PROMETHEUS_DIR/bin/"
  basename "$tmp"/prometheus_*.deb > "$PROMETHEUS_DIR/VERSION"
  rm -rf "$tmp"
}

case "${1:-}" in
  provision)
    provision_kustomize; provision_kubernetes_validate; provision_crds; provision_prometheus
    say "provisioned: kustomize $KUSTOMIZE_VERSION, kubernetes-validate $KUBERNETES_VALIDATE_VERSION, CRDs, $(cat "$PROMETHEUS_DIR/VERSION")" ;;
  env)
    echo "export SMARTEDU_KUSTOMIZE=$KUSTOMIZE SMARTEDU_KUBEVAL_PYTHON=$KUBEVAL_ENV/bin/python SMARTEDU_CRDS=$CRDS" \
      "SMARTEDU_PROMETHEUS=$PROMETHEUS_DIR/bin/prometheus SMARTEDU_PROMTOOL=$PROMETHEUS_DIR/bin/promtool" ;;
  *) echo "usage: $0 provision|env" >&2; exit 2 ;;
esac
