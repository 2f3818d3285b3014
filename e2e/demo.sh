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
echo "== nodes (played by the local node: pods are processes in network namespaces)"
$kubectl get nodes -o wide
echo "== an app: 3 echo pods behind a Service"
$kubectl apply -f e2e/demo/echo.yaml
$kubectl -n skein-demo rollout status deployment/echo --timeout=120s
$kubectl -n skein-demo get pods -o wide
ip=$($kubectl -n skein-demo get service echo -o jsonpath='{.spec.clusterIP}')
# Ready pods reach kube-proxy's rules through the EndpointSlice; wait for all three to be there.
for _ in $(seq 1 50); do
  ready=$($kubectl -n skein-demo get endpointslices -l kubernetes.io/service-name=echo -o jsonpath='{range .items[*].endpoints[?(@.conditions.ready==true)]}x{end}')
  [ "${#ready}" -ge 3 ] && break
  sleep 0.2
done
sleep 2
echo "== 30 requests to the Service's ClusterIP $ip, answered by:"
for _ in $(seq 1 30); do
  curl -s -m 3 "http://$ip/" | sed -n 's/.*"pod":"\([^"]*\)".*/\1/p'
done | sort | uniq -c
echo
echo "The cluster keeps running. Use it with:"
echo "  export KUBECONFIG=$kubeconfig"
echo "  $(dirname "${kubectl%% *}")/kubectl get pods -A"
echo "  $(dirname "${kubectl%% *}")/kubectl -n skein-demo logs deploy/echo"
echo "Stop it with: make cluster-down"
