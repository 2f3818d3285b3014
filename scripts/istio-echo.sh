#!/usr/bin/env bash
# Prints the directory holding Istio's echo server and client (static, CGO
# off) and the certificate the server's --tls port serves: what the Gateway
# API's echo-advanced conformance image is made of (its Dockerfile is
# `FROM` Istio's "app" image, pkg/test/echo/docker/Dockerfile.app). Built from
# the istio.io/istio Go module into ~/.cache/skein/conformance/istio-echo-<version>-<stamp>
# the first time, as scripts/helm.sh builds helm; a warm cache makes this a
# no-op. images/catalog.ts packs the directory into the image.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# The only version of istio.io/istio the Go module proxy serves here (a
# pseudo-version of Istio's master branch, August 2026, between 1.29 and 1.30).
version=v0.0.0-20260827124520-eed52ebb66ad
stamp=$(echo "$version" | cat - "$here/istio-echo.sh" | sha256sum | cut -c1-16)
out="${SKEIN_CONFORMANCE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/skein/conformance}/istio-echo-$stamp"
complete() {
  [ "$(cat "$out/.stamp" 2>/dev/null)" = "$stamp" ] || return 1
  for f in server client cert.crt cert.key; do [ -s "$out/$f" ] || return 1; done
}
if complete; then echo "$out"; exit 0; fi
command -v go >/dev/null || { echo "scripts/istio-echo.sh: Go >= 1.26 is needed to build Istio's echo server and client from istio.io/istio; install it (https://go.dev/doc/install)" >&2; exit 1; }
# istio.io/istio@$version asks for Go 1.26, which the machine has.
export GOTOOLCHAIN=local CGO_ENABLED=0 GOMAXPROCS=1 GOFLAGS="-p=1 -buildvcs=false"
tmp="$out.partial"
rm -rf "$tmp" && mkdir -p "$tmp"
echo "scripts/istio-echo.sh: building Istio's echo server and client ($version) into $out (24 minutes measured on a cold cache, shared 2 cores)" >&2
start=$SECONDS
# `go install module@version` builds with Istio's own go.mod and go.sum,
# checked against the checksum database. The test certificate comes from the
# same module, as the image's Dockerfile copies it.
if ! GOBIN="$tmp" nice -n 10 go install -trimpath -ldflags "-s -w" \
    "istio.io/istio/pkg/test/echo/cmd/server@$version" "istio.io/istio/pkg/test/echo/cmd/client@$version" >&2; then
  echo "scripts/istio-echo.sh: go install of istio.io/istio/pkg/test/echo/cmd/{server,client}@$version failed; the lines above say why" >&2
  exit 1
fi
dir=$(go mod download -json "istio.io/istio@$version" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
[ -d "$dir/tests/testdata/certs/dns" ] || { echo "scripts/istio-echo.sh: istio.io/istio@$version has no tests/testdata/certs/dns in the module cache ($dir)" >&2; exit 1; }
install -m 0644 "$dir/tests/testdata/certs/dns/cert-chain.pem" "$tmp/cert.crt"
install -m 0644 "$dir/tests/testdata/certs/dns/key.pem" "$tmp/cert.key"
for f in server client; do [ -x "$tmp/$f" ] || { echo "scripts/istio-echo.sh: go install produced no $tmp/$f" >&2; exit 1; }; done
echo "$stamp" > "$tmp/.stamp"
rm -rf "$out" && mv "$tmp" "$out"
echo "scripts/istio-echo.sh: done in $((SECONDS - start))s" >&2
echo "$out"
