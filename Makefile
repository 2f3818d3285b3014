# Skein. Two commands matter: `make demo` and `make test` (see README.md).
# Every target runs on Node >= 24: scripts/node.sh finds it or installs it
# into .tools/ when the system Node is older.
SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

NODE := $(shell scripts/node.sh)
export PATH := $(dir $(NODE)):$(CURDIR)/node_modules/.bin:$(PATH)
CLUSTER := node e2e/cluster/cluster.ts

.PHONY: standalone charts images help deps binaries cluster-up cluster-down cluster-status demo test typecheck lint unit e2e bench conformance

help:
	@echo "make demo            bring up the local cluster and show Skein on it"
	@echo "make test            everything CI runs: typecheck, lint, unit and cluster tests"
	@echo "make bench           benchmarks on the local cluster (numbers, not pass/fail)"
	@echo "make conformance     the Gateway API conformance suite (MESH-HTTP, MESH-GRPC) against Skein; report in .cache/conformance"
	@echo "make cluster-up      start (or converge) the local cluster; prints the kubeconfig path"
	@echo "make cluster-down    stop the local cluster and remove its state"
	@echo "make cluster-status  show what runs"
	@echo "make images          build the controller and proxy images as OCI archives in .cache/images (offline, no Docker)"
	@echo "make standalone      kubectl-skein as one executable (no Node needed), its krew archive and plugin.yaml in .cache/sea"
	@echo "make charts          regenerate charts/ (Helm) from crds/ and manifests/"

# npm packages, installed exactly as package-lock.json pins them.
node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
deps: node_modules/.package-lock.json
	@scripts/system-deps.sh

binaries:
	@e2e/cluster/build-binaries.sh >/dev/null

cluster-up: deps
	@$(CLUSTER) up

cluster-down: deps
	@$(CLUSTER) down

# status exits 3 when the cluster is not (all) up, for scripts; here that is the answer, not a make error.
cluster-status: deps
	@$(CLUSTER) status || [ $$? -eq 3 ]

demo: deps
	@e2e/demo.sh

typecheck: deps
	tsc --noEmit -p tsconfig.json

lint: deps
	eslint --max-warnings 0 .

# Unit tests sit beside the code; cluster tests live under e2e/tests.
UNIT_TESTS := $(shell git ls-files --cached --others --exclude-standard '*.test.ts' | grep -v '^e2e/tests/')
E2E_TESTS := $(shell git ls-files --cached --others --exclude-standard 'e2e/tests/*.test.ts')

unit: deps
	node --test --test-reporter=spec $(UNIT_TESTS)

e2e: deps binaries
	$(CLUSTER) run -- node --test --test-reporter=spec --test-concurrency=1 --test-timeout=300000 $(E2E_TESTS)

# typecheck, lint and unit beside e2e (scripts/test.sh says why); each still has its own target.
test:
	@scripts/test.sh

# The two images a release ships, as OCI archives in .cache/images (images/build.ts):
# offline, no container engine, the same digests from the same checkout.
# REGISTRY=... TAG=... name them elsewhere; IMAGES=--all adds the cluster tests' apps.
images: deps
	@scripts/system-deps.sh images
	node images/build.ts $(if $(REGISTRY),--registry $(REGISTRY)) $(if $(TAG),--tag $(TAG)) $(IMAGES)

# Benchmarks report numbers against references; they assert nothing and are not part of make test.
bench: deps binaries
	@scripts/system-deps.sh bench
	@scripts/bun.sh >/dev/null
	node bench/proxy.ts
	$(CLUSTER) run -- node bench/pod-startup.ts
	$(CLUSTER) run -- node bench/inject.ts
	$(CLUSTER) run -- node bench/identity.ts
	$(CLUSTER) run -- node bench/soak.ts --minutes $${SOAK_MINUTES:-3}
	$(CLUSTER) run -- node bench/scale.ts --pods $${SCALE_PODS:-100,1000,10000}

# kubectl-skein as a single executable (Node's SEA), packed for krew with plugin.yaml (cli/sea/build.ts).
standalone: deps
	node cli/sea/build.ts

# The Helm charts are generated from the kustomizations; charts/charts.test.ts fails when they are stale.
charts: deps
	node charts/generate.ts

# The Gateway API project's own conformance suite (sigs.k8s.io/gateway-api/conformance,
# built from its Go module) against Skein on the local cluster, profiles MESH-HTTP and MESH-GRPC.
# The suite and Istio's echo image are built first, outside the cluster's lifetime.
# Its report (the suite's YAML) and log are in .cache/conformance/.
# CONFORMANCE_ARGS="--tests MeshBasic,MeshTrafficSplit --timeout 20m" narrows or bounds a run.
conformance: deps binaries
	@scripts/system-deps.sh
	node e2e/conformance/run.ts build
	$(CLUSTER) run -- node e2e/conformance/run.ts run $(CONFORMANCE_ARGS)
