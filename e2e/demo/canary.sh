#!/usr/bin/env bash
# The books canary: books-v2 gets 10 %, then 50 %, then all of books' traffic
# through an SMI TrafficSplit written in the versions canary controllers
# write, while web keeps calling books. After each shift, kubectl skein stat
# shows every deployment's golden metrics.
#
# Which versions they write (read in their sources, 2026):
# - Argo Rollouts' SMI traffic router writes v1alpha1 unless the controller
#   runs with --traffic-split-api-version=v1alpha2 or v1alpha3
#   (utils/defaults/defaults.go DefaultSMITrafficSplitVersion = "v1alpha1",
#   rollout/trafficrouting/smi/smi.go; docs/features/traffic-management/smi.md
#   at github.com/argoproj/argo-rollouts 9f8d111).
# - Flagger's linkerd provider writes v1alpha1 (pkg/router/factory.go gives it
#   the SmiRouter of pkg/router/smi.go); its osm and smi:v1alpha2:<mesh>
#   providers write v1alpha2, smi:v1alpha3:<mesh> v1alpha3
#   (github.com/fluxcd/flagger 15bd6ad).
# In v1alpha1 a weight is a quantity; both write whole numbers out of 100.
# usage: canary.sh <kubectl> <kubectl-skein>
set -euo pipefail
kubectl=$1 skein=$2
ns=skein-books

split() { # <apiVersion> <v1 weight> <v2 weight>
  $kubectl apply -f - >/dev/null <<YAML
apiVersion: split.smi-spec.io/$1
kind: TrafficSplit
metadata: {name: books-canary, namespace: $ns}
spec:
  service: books
  backends:
    - {service: books-v1, weight: $2}
    - {service: books-v2, weight: $3}
YAML
}

stat() {
  $skein stat deploy -n $ns --window 10s
}

echo "-- before any split: books balances its pods by latency (P2C over peak EWMA)"
stat
echo
echo "-- TrafficSplit v1alpha1, as Argo Rollouts (by default) and Flagger's linkerd provider write it: books-v1 90, books-v2 10"
split v1alpha1 90 10
stat
echo
echo "-- shift to 50/50 in v1alpha2, as Argo Rollouts with --traffic-split-api-version=v1alpha2 and Flagger's osm provider write it"
split v1alpha2 50 50
stat
echo
echo "-- promote in v1alpha3, as Argo Rollouts with --traffic-split-api-version=v1alpha3 and Flagger's smi:v1alpha3 provider write it: books-v2 takes everything"
split v1alpha3 0 100
stat
echo
$kubectl -n $ns get trafficsplit books-canary -o wide
