#!/usr/bin/env bash
# `make test`: the static checks and unit tests run beside the cluster tests
# instead of before them. The cluster tests spend most of their time waiting
# on kubelets and pods, so on a 2-core machine this takes the ~6 minutes of
# typecheck, lint and unit tests off the wall time. Unit tests that touch the
# network do it in network namespaces of their own, so they cannot meet the
# cluster. Both halves always run to the end; the exit code is non-zero when
# either failed, and the static half's log is printed after the cluster's.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# Installing (npm ci, the Kubernetes binaries) happens once, before the split.
make --no-print-directory deps binaries || exit

mkdir -p .cache
log=.cache/test-static.log
make --no-print-directory typecheck lint unit >"$log" 2>&1 &
static_pid=$!
trap 'kill "$static_pid" 2>/dev/null' EXIT

make --no-print-directory e2e
e2e_status=$?
wait "$static_pid"
static_status=$?
trap - EXIT

echo
echo "=== typecheck, lint and unit tests (ran beside the cluster tests; full log in $log)"
cat "$log"
echo
echo "=== make test: cluster tests $([ "$e2e_status" -eq 0 ] && echo passed || echo "FAILED ($e2e_status)"), typecheck/lint/unit $([ "$static_status" -eq 0 ] && echo passed || echo "FAILED ($static_status)")"
[ "$e2e_status" -eq 0 ] && [ "$static_status" -eq 0 ]
