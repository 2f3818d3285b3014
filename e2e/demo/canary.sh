#!/usr/bin/env bash
# The books canary: books-v2 gets 10 %, then 50 %, then all of books' traffic
# through an SMI TrafficSplit written in the versions Flagger (v1alpha1) and
# Argo Rollouts (v1alpha2) write, while web keeps calling books. After each
# shift, kubectl skein stat shows every deployment's golden metrics.
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
echo "-- TrafficSplit (v1alpha2, as Argo Rollouts writes it): books-v1 90, books-v2 10"
split v1alpha2 90 10
stat
echo
echo "-- shift to 50/50"
split v1alpha2 50 50
stat
echo
echo "-- promote (v1alpha1, as Flagger writes it: weights are quantities): books-v2 takes everything"
split v1alpha1 0 1000m
stat
echo
$kubectl -n $ns get trafficsplit books-canary -o wide
