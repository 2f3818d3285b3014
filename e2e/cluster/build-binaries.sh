#!/usr/bin/env bash
# Builds etcd, the Kubernetes control plane and what a real node runs (kubelet,
# the pod sandbox's pause, CoreDNS from its own module in gobuild/coredns) from
# their Go modules (gobuild/)
# into a cache outside git, keyed by version and by a hash of the build inputs.
# A warm cache makes this a no-op. Prints the binary directory on its last line.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src="$here/gobuild"
bins=(etcd kube-apiserver kube-controller-manager kube-scheduler kube-proxy kubectl kubelet pause coredns)

command -v go >/dev/null || { echo "build-binaries: Go >= 1.25 is needed to build Kubernetes; install it (https://go.dev/doc/install)" >&2; exit 1; }
version=$(awk '$1=="k8s.io/kubernetes"{print $2; exit}' "$src/go.mod")
minor=$(echo "$version" | cut -d. -f2)
stamp=$(cd "$src" && cat go.mod go.sum cmd/*/main.go coredns/go.mod coredns/go.sum coredns/main.go "$here/build-binaries.sh" | sha256sum | cut -c1-16)
# Keyed by the build inputs too, so checkouts with different inputs (branches
# on one machine) each keep their binaries instead of rebuilding in turn.
out="${SKEIN_BIN_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/skein/k8s/$version-$stamp}"

complete() {
  [ -f "$out/.stamp" ] && [ "$(cat "$out/.stamp")" = "$stamp" ] || return 1
  for b in "${bins[@]}"; do [ -x "$out/$b" ] || return 1; done
}
if complete; then echo "$out"; exit 0; fi

export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS="-mod=mod -buildvcs=false"
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $pkg.gitVersion=$version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
done
tmp="$out.partial"
rm -rf "$tmp" && mkdir -p "$tmp"
echo "build-binaries: building Kubernetes $version and etcd into $out" >&2
echo "build-binaries: a cold build downloads ~1 GB of modules and compiles for 10-25 minutes on 2 cores" >&2
start=$SECONDS
(cd "$src" && go mod download >&2)
(cd "$src/coredns" && go mod download >&2)
# go build -v names each package as it compiles; turn that into a heartbeat
# and pass compiler errors through.
heartbeat() {
  local n=0 line
  while IFS= read -r line; do
    case "$line" in
      '#'*|*:*:*) echo "$line" ;;
      *) n=$((n + 1)); if ((n % 100 == 0)); then echo "build-binaries: $n packages compiled ($((SECONDS - start))s)"; fi ;;
    esac
  done
}
if ! { (cd "$src" && go build -v -p "$(nproc)" -trimpath -ldflags "$ldflags" -o "$tmp/" ./cmd/... 2>&1) \
    && (cd "$src/coredns" && go build -v -p "$(nproc)" -trimpath -ldflags "-s -w" -o "$tmp/coredns" . 2>&1); } | heartbeat >&2; then
  echo "build-binaries: go build failed; the lines above say why" >&2
  exit 1
fi
for b in "${bins[@]}"; do [ -x "$tmp/$b" ] || { echo "build-binaries: $b was not produced" >&2; exit 1; }; done
echo "$stamp" > "$tmp/.stamp"
rm -rf "$out" && mv "$tmp" "$out"
echo "build-binaries: done in $((SECONDS - start))s" >&2
echo "$out"
