#!/usr/bin/env bash
# `make demo`: the local cluster, Skein installed on it with the kubectl
# plugin, an app meshed by a namespace annotation, and its traffic shown from
# the proxies' own metrics.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
kubeconfig=$(node e2e/cluster/cluster.ts up | tail -n 1)
bin="$(e2e/cluster/build-binaries.sh 2>/dev/null | tail -n 1)"
export KUBECONFIG=$kubeconfig SKEIN_KUBECTL="$bin/kubectl"
kubectl="$bin/kubectl"
skein="cli/bin/kubectl-skein"

echo "== nodes (three real kubelets, each with its own containerd)"
$kubectl get nodes -o wide
echo
echo "== kubectl skein install | kubectl apply --server-side -f -"
# A leftover control plane from an earlier demo would keep certificates of an older trust anchor.
$kubectl delete namespace skein-system --ignore-not-found --wait=true >/dev/null
# The local cluster's pods and Services live in 198.18.0.0/15 (not a range real clusters use).
$skein install --cluster-networks 198.18.0.0/15 | $kubectl apply --server-side -f - >/dev/null
for d in skein-identity skein-controller skein-webhook; do
  $kubectl -n skein-system rollout status "deployment/$d" --timeout=180s
done
echo
echo "== the app: namespace skein-demo (annotated skein.dev/inject: enabled), echo x3 and a client"
$kubectl delete namespace skein-demo --ignore-not-found --wait=true >/dev/null
$kubectl apply -f e2e/demo/echo.yaml >/dev/null
$kubectl -n skein-demo rollout status deployment/echo --timeout=180s
$kubectl apply -f e2e/demo/client.yaml >/dev/null
$kubectl -n skein-demo rollout status deployment/client --timeout=180s
$kubectl -n skein-demo get pods -o custom-columns='POD:.metadata.name,MESHED:.metadata.annotations.skein\.dev/injection,CONTAINERS:.spec.initContainers[*].name,IP:.status.podIP'
echo
echo "== kubectl skein check"
$skein check || true
echo
echo "== 10 seconds of the client's traffic, as each echo pod's proxy saw it (GET :4191/metrics)"
sleep 10
for ip in $($kubectl -n skein-demo get pods -l app=echo -o jsonpath='{.items[*].status.podIP}'); do
  pod=$($kubectl -n skein-demo get pods -l app=echo -o jsonpath="{.items[?(@.status.podIP=='$ip')].metadata.name}")
  curl -s "http://$ip:4191/metrics" \
    | awk -v pod="$pod" '/^request_total\{direction="inbound"/ && /tls="true"/ {
        match($0, /client_id="[^"]*"/); id = substr($0, RSTART + 11, RLENGTH - 12); total += $NF
      } END { printf "  %-28s %5d requests over mTLS from %s\n", pod, total, id }'
done
echo
echo "== the client's own view (its last report: requests sent, answered, failed, by pod)"
client=$($kubectl -n skein-demo get pods -l app=client -o jsonpath='{.items[0].metadata.name}')
$kubectl -n skein-demo logs "$client" -c client | tail -n 1
echo
echo "== the three-service demo: web → books → authors (namespace skein-books), then a books-v2 canary"
$kubectl delete namespace skein-books --ignore-not-found --wait=true >/dev/null
$kubectl apply -f e2e/demo/books.yaml >/dev/null
for d in authors books-v1 books-v2 web traffic; do $kubectl -n skein-books rollout status "deployment/$d" --timeout=180s >/dev/null; done
e2e/demo/canary.sh "$kubectl" "$skein"
echo
echo "The cluster keeps running. Use it with:"
echo "  export KUBECONFIG=$kubeconfig"
echo "  $kubectl get pods -A"
echo "  $skein check"
echo "Stop it with: make cluster-down"
