# Skein. Two commands matter: `make demo` and `make test` (see README.md).
# Every target runs on Node >= 24: scripts/node.sh finds it or installs it
# into .tools/ when the system Node is older.
SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

NODE := $(shell scripts/node.sh)
export PATH := $(dir $(NODE)):$(CURDIR)/node_modules/.bin:$(PATH)
CLUSTER := node e2e/cluster/cluster.ts

.PHONY: images help deps binaries cluster-up cluster-down cluster-status demo test typecheck lint unit e2e bench

help:
	@echo "make demo            bring up the local cluster and show Skein on it"
	@echo "make test            everything CI runs: typecheck, lint, unit and cluster tests"
	@echo "make bench           benchmarks on the local cluster (numbers, not pass/fail)"
	@echo "make cluster-up      start (or converge) the local cluster; prints the kubeconfig path"
	@echo "make cluster-down    stop the local cluster and remove its state"
	@echo "make cluster-status  show what runs"
	@echo "make images          build skein.dev/controller and skein.dev/proxy (needs Docker)"

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

cluster-status: deps
	@$(CLUSTER) status

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

test: typecheck lint unit e2e

# Benchmarks report numbers against references; they assert nothing and are not part of make test.
# The two images a release ships; needs a Docker engine (the local node runs
# this checkout's code under the same image names instead).
VERSION := v0.1.0
images:
	@command -v docker >/dev/null || { echo "make images: no docker here; the local cluster maps skein.dev/* images to this checkout (e2e/node/images.ts)" >&2; exit 1; }
	docker build -f operator/Dockerfile -t skein.dev/controller:$(VERSION) .
	docker build -f proxy-image/Dockerfile -t skein.dev/proxy:$(VERSION) .

bench: deps binaries
	@scripts/system-deps.sh bench
	@scripts/bun.sh >/dev/null
	node bench/proxy.ts
	$(CLUSTER) run -- node bench/pod-startup.ts
	$(CLUSTER) run -- node bench/inject.ts
	$(CLUSTER) run -- node bench/identity.ts
	$(CLUSTER) run -- node bench/soak.ts --minutes $${SOAK_MINUTES:-3}
