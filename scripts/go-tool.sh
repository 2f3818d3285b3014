#!/usr/bin/env bash
# go-tool.sh NAME VERSION PACKAGE VERSION_FLAG [LDFLAGS]: prints the path of a
# tool built from its Go module (`go install PACKAGE@VERSION`) into
# ~/.cache/skein/NAME/VERSION the first time, as e2e/cluster/build-binaries.sh
# builds Kubernetes: no prebuilt binary is downloaded. A cached binary whose
# `VERSION_FLAG` output names VERSION makes this a no-op. scripts/helm.sh and
# scripts/kwok.sh are its callers; users bring their own tools.
set -euo pipefail
name=$1 version=$2 package=$3 version_flag=$4 ldflags=${5:-}
upper=$(echo "$name" | tr '[:lower:]' '[:upper:]')
dir_var="SKEIN_${upper}_DIR"
out="${!dir_var:-${XDG_CACHE_HOME:-$HOME/.cache}/skein/$name/$version}"
bin="$out/$name"
if [ -x "$bin" ] && "$bin" "$version_flag" 2>/dev/null | grep -qF "$version"; then echo "$bin"; exit 0; fi
command -v go >/dev/null || { echo "scripts/$name.sh: Go >= 1.26 is needed to build $name $version from its module; install it (https://go.dev/doc/install)" >&2; exit 1; }
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS="-buildvcs=false ${GOFLAGS:-}"
tmp="$out.partial"
rm -rf "$tmp" && mkdir -p "$tmp"
echo "scripts/$name.sh: building $name $version from $package into $out (minutes the first time)" >&2
start=$SECONDS
# `go install module@version` builds with the module's own go.mod and go.sum,
# checked against the checksum database: the same dependencies the project releases with.
if ! GOBIN="$tmp" go install -trimpath -ldflags "-s -w $ldflags" "$package@$version" >&2; then
  echo "scripts/$name.sh: go install $package@$version failed; the lines above say why" >&2
  exit 1
fi
[ -x "$tmp/$name" ] || { echo "scripts/$name.sh: go install produced no $tmp/$name" >&2; exit 1; }
rm -rf "$out" && mv "$tmp" "$out"
echo "scripts/$name.sh: done in $((SECONDS - start))s" >&2
echo "$bin"
