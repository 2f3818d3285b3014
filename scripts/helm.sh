#!/usr/bin/env bash
# Prints the path of helm, built from its Go module (helm.sh/helm/v4) into
# ~/.cache/skein/helm/<version> the first time, as e2e/cluster/build-binaries.sh
# builds Kubernetes: no prebuilt binary is downloaded. A warm cache makes this
# a no-op. Only the Helm cluster test (e2e/tests/helm.test.ts) and charts/'s
# render test use it; users bring their own helm.
set -euo pipefail
version=v4.3.2
out="${SKEIN_HELM_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/skein/helm/$version}"
bin="$out/helm"
if [ -x "$bin" ] && [ "$("$bin" version --template '{{.Version}}' 2>/dev/null)" = "$version" ]; then echo "$bin"; exit 0; fi
command -v go >/dev/null || { echo "scripts/helm.sh: Go >= 1.26 is needed to build helm $version from its module; install it (https://go.dev/doc/install)" >&2; exit 1; }
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS="-buildvcs=false"
tmp="$out.partial"
rm -rf "$tmp" && mkdir -p "$tmp"
echo "scripts/helm.sh: building helm $version from helm.sh/helm/v4 into $out (a few minutes the first time)" >&2
start=$SECONDS
# `go install module@version` builds with the module's own go.mod and go.sum,
# checked against the checksum database: the same dependencies Helm releases with.
if ! GOBIN="$tmp" go install -trimpath -ldflags "-s -w -X helm.sh/helm/v4/internal/version.version=$version" "helm.sh/helm/v4/cmd/helm@$version" >&2; then
  echo "scripts/helm.sh: go install helm.sh/helm/v4/cmd/helm@$version failed; the lines above say why" >&2
  exit 1
fi
[ -x "$tmp/helm" ] || { echo "scripts/helm.sh: go install produced no $tmp/helm" >&2; exit 1; }
rm -rf "$out" && mv "$tmp" "$out"
echo "scripts/helm.sh: done in $((SECONDS - start))s" >&2
echo "$bin"
