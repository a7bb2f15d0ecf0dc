# The two commands a newcomer needs: `make run` and `make test`. Everything is provisioned into .cache/
# (git-ignored): a Python environment from uv.lock (and the aggregator's compiled reader), Apache Kafka from Maven
# Central, FerretDB and SeaweedFS (the S3 object store of class groups' media) from their Go modules.
SHELL := /bin/bash
.DEFAULT_GOAL := help
CACHE := $(CURDIR)/.cache
PY := $(CACHE)/pyenv/bin/python
UV := $(CACHE)/venv/bin/uv
INFRA := deploy/local/infra.sh
export PYTHONPATH := $(CURDIR)/libs:$(CURDIR)/services
export UV_PROJECT_ENVIRONMENT := $(CACHE)/pyenv

.PHONY: help provision python run stop test test-unit lint format asyncapi k8s infra-start infra-stop clean settings-table browser bench-tools kcat quix

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(UV):
	@echo "[python] bootstrapping uv into $(CACHE)/venv"
	@python3 -m venv $(CACHE)/venv && $(CACHE)/venv/bin/pip install -q --disable-pip-version-check 'uv==0.13.9'

$(CACHE)/pyenv/.synced: uv.lock pyproject.toml | $(UV)
	@echo "[python] installing the locked dependencies into $(CACHE)/pyenv"
	@$(UV) sync --frozen --python python3.11
	@touch $@

# The aggregator's record reader compiled with C types (Cython, the `build` dependency group; Python's headers and
# gcc): git-ignored, rebuilt when its source changes. Without it the pure-Python reader runs (same decisions, slower).
READER := services/viewstats/domain/_reader.so
$(READER): services/viewstats/domain/_reader.pyx deploy/local/build_reader.py $(CACHE)/pyenv/.synced
	@$(PY) deploy/local/build_reader.py

python: $(CACHE)/pyenv/.synced $(READER)

provision: python ops-tools contract-tools ## provision Python deps, Kafka, FerretDB, SeaweedFS, the operators' and the contract tools (cached)
	@$(INFRA) provision

infra-start: provision
	@$(INFRA) start
	@if [ -z "$$KAFKA_BOOTSTRAP_SERVERS" ]; then eval "$$($(INFRA) env admin)"; fi; $(PY) -m common.topics create

infra-stop: ## stop Kafka, FerretDB and SeaweedFS started by this checkout
	@$(INFRA) stop

run: provision ## start Kafka, FerretDB and all services with demo data; Ctrl-C stops everything
	@$(PY) deploy/local/devstack.py run; status=$$?; $(INFRA) stop; exit $$status

stop: ## stop everything `make run` started
	@$(PY) deploy/local/devstack.py stop
	@LOCAL_RALPH_PORT=8100 bash deploy/local/contract-tools.sh ralph-stop
	@$(INFRA) stop

test: provision browser kcat ## run the whole suite against real Kafka and FerretDB
	@bash deploy/local/test.sh $(ARGS)

browser: ## install Debian's headless Chromium and a CJK font for the dashboard test (when missing)
	@if [ ! -x /usr/bin/chromium ] || ! fc-list 2>/dev/null | grep -qi wqy; then \
	  echo "[browser] installing Debian's chromium"; \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium fonts-wqy-zenhei \
	    || { $$SUDO apt-get update && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium fonts-wqy-zenhei; }; \
	fi

bench-tools: ## install Debian's wrk, the load generator of the HTTP benchmarks (when missing)
	@command -v wrk >/dev/null || { SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends wrk \
	    || { $$SUDO apt-get update && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends wrk; }; }

kcat: ## install Debian's kcat, the outside Kafka client the subscriber feed tests read feeds with (when missing)
	@command -v kcat >/dev/null || { SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends kcat \
	    || { $$SUDO apt-get update && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends kcat; }; }

QUIX := $(CACHE)/quix/bin/python
$(QUIX): | $(UV)
	@echo "[python] Quix Streams (the aggregator benchmark's peer) in an environment of its own: $(CACHE)/quix"
	@$(UV) venv -q --python python3.11 $(CACHE)/quix && $(UV) pip install -q --python $(QUIX) 'quixstreams[mongodb]==3.28.*'
quix: $(QUIX) ## Quix Streams for bench/viewstats/bench_aggregator.py --peer (its pins clash with the project's)

test-unit: python ## the unit tier only (no infrastructure)
	@$(PY) -m pytest -m unit -q $(ARGS)

lint: python ## ruff
	@$(CACHE)/pyenv/bin/ruff check . && $(CACHE)/pyenv/bin/ruff format --check .

format: python
	@$(CACHE)/pyenv/bin/ruff format . && $(CACHE)/pyenv/bin/ruff check --fix .

asyncapi: python ## write the platform's AsyncAPI document to docs/asyncapi.json
	@$(PY) -m common.asyncapi > docs/asyncapi.json && echo "wrote docs/asyncapi.json"

# --- contracts (issue 17): the AsyncAPI CLI and the Ralph LRS, each in an environment of its own under .cache/ --------
.PHONY: contract-tools contracts
contract-tools: ## the AsyncAPI CLI (npm) and Ralph, an xAPI Learning Record Store (its own virtualenv) (cached)
	@bash deploy/local/contract-tools.sh provision

contracts: python ## record new event versions' JSON Schemas in contracts/schemas (refuses a change that breaks a vN)
	@$(PY) -m common.compatibility write && $(PY) -m common.compatibility check && echo "contracts/schemas up to date"

k8s: python ## render Kafka topics and users for Kubernetes from libs/common/topics.py
	@$(PY) -m common.topics k8s --out deploy/k8s/base/kafka

clean: stop ## remove local state (data of Kafka and FerretDB), keep downloads
	@rm -rf $(CACHE)/state

settings-table: python ## regenerate the README's table of settings
	@$(PY) deploy/local/settings_table.py --write-readme

# --- operability (issue 18): the operators' tools, each from its registry, into .cache/ --------------------------
.PHONY: ops-tools k8s-validate dashboards
ops-tools: ## kustomize, kubernetes-validate with the CRDs' schemas, Prometheus and promtool (cached)
	@bash deploy/local/ops-tools.sh provision

k8s-validate: ops-tools ## render every overlay with kustomize and validate it offline (Kubernetes + CRD schemas)
	@eval "$$(deploy/local/ops-tools.sh env)"; for k in deploy/k8s/base deploy/k8s/overlays/*/; do \
	  echo "== $$k"; "$$SMARTEDU_KUSTOMIZE" build "$$k" | "$$SMARTEDU_KUBEVAL_PYTHON" deploy/local/k8s_validate.py \
	    --crds "$$SMARTEDU_CRDS" - || exit 1; done

dashboards: python ## regenerate the Grafana dashboards (deploy/k8s/observability/dashboards) from libs/common/topics.py
	@$(PY) deploy/k8s/observability/dashboards.py --write
