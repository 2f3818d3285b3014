#!/usr/bin/env bash
# Prints the path of the Gateway API conformance suite as one test binary
# (`go test -c` of sigs.k8s.io/gateway-api/conformance, pinned with its
# dependencies by e2e/conformance/gobuild/go.mod and go.sum), built into
# ~/.cache/skein/conformance/suite-<version>-<stamp> the first time, as
# scripts/helm.sh builds helm: nothing prebuilt is downloaded. A warm cache
# makes this a no-op. `make conformance` (e2e/conformance/run.ts) runs it.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src="$here/../e2e/conformance/gobuild"
# The suite's go.mod names Go 1.27; the machine's Go (1.26) fetches this
# toolchain from the Go module proxy the first time (see README, "Gateway API
# conformance"): a go.mod toolchain line alone is not enough, every shell
# that builds it needs this.
export GOTOOLCHAIN=go1.27.3
command -v go >/dev/null || { echo "scripts/gateway-conformance.sh: Go >= 1.21 is needed to build the Gateway API conformance suite (it then fetches $GOTOOLCHAIN); install it (https://go.dev/doc/install)" >&2; exit 1; }
version=$(grep -oE '^(require)?[[:space:]]*sigs\.k8s\.io/gateway-api/conformance v[^[:space:]]+' "$src/go.mod" | awk '{print $NF; exit}')
[ -n "$version" ] || { echo "scripts/gateway-conformance.sh: $src/go.mod requires no sigs.k8s.io/gateway-api/conformance" >&2; exit 1; }
stamp=$(cat "$src/go.mod" "$src/go.sum" "$src/conformance_test.go" "$here/gateway-conformance.sh" | sha256sum | cut -c1-16)
out="${SKEIN_CONFORMANCE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/skein/conformance}/suite-$version-$stamp"
bin="$out/conformance.test"
if [ -x "$bin" ] && [ "$(cat "$out/.stamp" 2>/dev/null)" = "$stamp" ]; then echo "$bin"; exit 0; fi
# Five builds may share two cores: one compile at a time, at low priority.
export CGO_ENABLED=0 GOMAXPROCS=1 GOFLAGS="-p=1 -buildvcs=false -mod=readonly"
tmp="$out.partial"
rm -rf "$tmp" && mkdir -p "$tmp"
echo "scripts/gateway-conformance.sh: building the Gateway API conformance suite $version into $out (57 minutes measured on a cold cache, shared 2 cores)" >&2
start=$SECONDS
if ! (cd "$src" && go mod download >&2 && nice -n 10 go test -c -vet=off -trimpath -ldflags "-s -w" -o "$tmp/conformance.test" . >&2); then
  echo "scripts/gateway-conformance.sh: go test -c of sigs.k8s.io/gateway-api/conformance@$version failed; the lines above say why" >&2
  exit 1
fi
[ -x "$tmp/conformance.test" ] || { echo "scripts/gateway-conformance.sh: go test -c produced no $tmp/conformance.test" >&2; exit 1; }
echo "$stamp" > "$tmp/.stamp"
rm -rf "$out" && mv "$tmp" "$out"
echo "scripts/gateway-conformance.sh: done in $((SECONDS - start))s" >&2
echo "$bin"
