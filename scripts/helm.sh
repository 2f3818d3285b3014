#!/usr/bin/env bash
# Prints the path of helm v4, built from its Go module (helm.sh/helm/v4) by
# scripts/go-tool.sh into ~/.cache/skein/helm/<version> the first time. Only the
# Helm cluster test (e2e/tests/helm.test.ts) and charts/'s render test use it.
set -euo pipefail
version=v4.3.2
exec "$(dirname "$0")/go-tool.sh" helm "$version" helm.sh/helm/v4/cmd/helm version "-X helm.sh/helm/v4/internal/version.version=$version"
