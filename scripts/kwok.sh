#!/usr/bin/env bash
# Prints the path of kwok (sigs.k8s.io/kwok), built from its Go module by
# scripts/go-tool.sh into ~/.cache/skein/kwok/<version> the first time. Only the
# scale benchmark (bench/scale.ts) uses it: kwok plays the kubelets of many
# fake Nodes, so pods are Running, Ready and addressed with no process behind them.
set -euo pipefail
version=v0.8.0
exec "$(dirname "$0")/go-tool.sh" kwok "$version" sigs.k8s.io/kwok/cmd/kwok --version "-X sigs.k8s.io/kwok/pkg/consts.Version=$version"
