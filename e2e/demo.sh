#!/usr/bin/env bash
# `make demo`: the local cluster, Skein applied to it, and what it shows.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
kubeconfig=$(node e2e/cluster/cluster.ts up | tail -n 1)
kubectl="$(e2e/cluster/build-binaries.sh 2>/dev/null | tail -n 1)/kubectl --kubeconfig $kubeconfig"

shopt -s nullglob
crds=(crds/*.yaml)
if ((${#crds[@]})); then
  echo "== applying Skein's CRDs"
  $kubectl apply --server-side -f crds/
fi

echo "== the API server: kubectl get --raw /readyz"
$kubectl get --raw /readyz; echo
echo "== version"
$kubectl version
echo "== namespaces"
$kubectl get namespaces
echo
echo "The cluster keeps running. Use it with:"
echo "  export KUBECONFIG=$kubeconfig"
echo "  $(dirname "${kubectl%% *}")/kubectl get pods -A"
echo "Stop it with: make cluster-down"
