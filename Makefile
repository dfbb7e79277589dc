# PredictFlow: `make demo` runs the main job, `make test` runs every test tier.
# Both install what they need (Debian packages, a Python environment, Go-built binaries)
# and cache it under $(CACHE), outside the checkout.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

CACHE ?= $(HOME)/.cache/predictflow
export PREDICTFLOW_CACHE := $(CACHE)
export K8S_VERSION ?= v1.34.4
export ETCD_VERSION ?= v3.6.16
export HELM_VERSION ?= v3.22.0
export KIND_VERSION ?= v0.33.0
K8S_MINOR = $(shell echo $(K8S_VERSION) | cut -d. -f1-2 | tr -d v)

APT_PACKAGES := redis-server redis-tools ca-certificates prometheus prometheus-redis-exporter
VENV = $(shell e2e/tools/ensure-venv.sh)
PYTHONPATH := $(CURDIR)/contract:$(CURDIR)/operator:$(CURDIR)/serving:$(CURDIR)/feature_repo:$(CURDIR)/e2e
export PYTHONPATH
CLUSTER_STATE := $(CACHE)/cluster
BIN := $(CURDIR)/bin

.PHONY: help
help:
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

.PHONY: deps
deps: ## Debian packages and the Python environment
	@e2e/tools/ensure-apt.sh $(APT_PACKAGES)
	@e2e/tools/ensure-venv.sh >/dev/null

.PHONY: tools
tools: ## build or reuse kube-apiserver, kube-controller-manager, etcd, kubectl, helm; link them into ./bin
	@mkdir -p $(BIN)
	@if [[ -n "$${KUBEBUILDER_ASSETS:-}" && -x "$${KUBEBUILDER_ASSETS}/kube-apiserver" ]]; then \
	  for b in kube-apiserver kube-controller-manager etcd kubectl; do \
	    [[ -x "$$KUBEBUILDER_ASSETS/$$b" ]] && ln -sfn "$$KUBEBUILDER_ASSETS/$$b" $(BIN)/$$b; done; \
	fi
	@[[ -x $(BIN)/kube-apiserver && -x $(BIN)/etcd && -x $(BIN)/kubectl ]] || e2e/tools/build-binaries.sh k8s etcd
	@e2e/tools/build-binaries.sh helm
	@for b in kube-apiserver kube-controller-manager kube-scheduler kubectl kubelet kube-proxy kubeadm; do \
	  [[ -e $(BIN)/$$b ]] || ln -sfn $(CACHE)/bin/k8s-$(K8S_VERSION)/$$b $(BIN)/$$b; done
	@[[ -e $(BIN)/etcd ]] || ln -sfn $(CACHE)/bin/etcd-$(ETCD_VERSION)/etcd $(BIN)/etcd
	@ln -sfn $(CACHE)/bin/helm-$(HELM_VERSION)-k8s$(K8S_MINOR)/helm $(BIN)/helm
	@$(BIN)/kube-apiserver --version

.PHONY: images
images: ## build the container images (operator, runtime, serving, redis, fraud-example) from a local base, tagged with the project version
	@e2e/tools/ensure-docker.sh
	@images/build.sh

.PHONY: wheel
wheel: deps ## build (or reuse) the predictflow-serving library wheel for your own serving image; prints its path
	@$(VENV)/bin/python images/library_wheel.py

.PHONY: crds
crds: deps ## regenerate crds/ from the operator's API models
	@$(VENV)/bin/python -m predictflow_operator.api.crd > crds/predictflow.io_featurestores.yaml

.PHONY: cluster-up
cluster-up: deps tools ## start the local control plane in the background; prints `export KUBECONFIG=...`
	@$(VENV)/bin/python -m predictflow_devtools.controlplane up $(BIN) $(CLUSTER_STATE) crds

.PHONY: cluster-down
cluster-down: ## stop the local control plane
	@$(VENV)/bin/python -m predictflow_devtools.controlplane down $(BIN) $(CLUSTER_STATE)

.PHONY: run
run: deps ## run the operator locally against $$KUBECONFIG
	@$(VENV)/bin/python -m predictflow_operator --verbose

LINTED := contract operator serving feature_repo/predictflow_runtime

.PHONY: lint
lint: deps ## ruff (lint and format check) and mypy over the shipped packages
	@$(VENV)/bin/ruff check $(LINTED)
	@$(VENV)/bin/ruff format --check $(LINTED)
	@$(VENV)/bin/mypy -p predictflow_contract -p predictflow_operator -p predictflow_serving -p predictflow_runtime

.PHONY: test
test: deps tools lint ## make lint, then every test tier: unit, controlplane, dataplane, then kind (make e2e)
	@PATH=$(BIN):$$PATH $(VENV)/bin/python -m pytest -m "unit or controlplane or dataplane" $(PYTEST_ARGS)
	@$(MAKE) --no-print-directory e2e PYTEST_ARGS=

.PHONY: test-unit
test-unit: deps tools
	@$(VENV)/bin/python -m pytest -m unit $(PYTEST_ARGS)

.PHONY: bench
bench: deps ## latency and throughput benchmarks against a real redis-server and `feast serve`; writes bench/results.json and bench/throughput.png
	@$(VENV)/bin/python -m bench.run

.PHONY: bench-operator
bench-operator: deps tools ## 200 FeatureStores on the loopback control plane: time to children, idle API traffic, cutover reaction, RSS
	@PATH=$(BIN):$$PATH $(VENV)/bin/python -m bench.operator $(BENCH_ARGS)

.PHONY: e2e
e2e: deps ## kind end-to-end tests: docker, kind, node image, images, cluster, suite, cleanup; prints stage times (PREDICTFLOW_KEEP_CLUSTER=1 keeps the cluster)
	@PYTEST_ARGS="$(PYTEST_ARGS)" e2e/kind/e2e.sh

.PHONY: kind-up
kind-up: deps ## a kind cluster with the project's images loaded (kept); then export KUBECONFIG=$$(e2e/kind/cluster.sh kubeconfig)
	@e2e/kind/e2e.sh up

.PHONY: kind-down
kind-down: ## delete the kind cluster
	@e2e/kind/cluster.sh down

.PHONY: demo
demo: deps ## the main job: a kind cluster, helm install, the sample FeatureStore Ready, a prediction
	@e2e/kind/demo.sh

.PHONY: demo-local
demo-local: cluster-up ## without Docker: the FeatureStore on the loopback control plane, plus the data plane as local processes
	@PATH=$(BIN):$$PATH KUBECONFIG=$(CLUSTER_STATE)/kubeconfig $(VENV)/bin/python -m predictflow_devtools.demo
