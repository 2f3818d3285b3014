#!/usr/bin/env bash
# Prints the path of Bun, installed from the npm registry (package `bun`, as
# Node 24 comes from package `node`, scripts/node.sh) into .tools/bun once.
# Only bench/proxy.ts uses it: the proxy runtime is chosen by measurement
# there (README, "The proxy's runtime").
set -euo pipefail
pinned=1.4.4
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dir="$root/.tools/bun"
bin="$dir/node_modules/.bin/bun"
if [ -x "$bin" ] && [ "$("$bin" --version)" = "$pinned" ]; then echo "$bin"; exit 0; fi
command -v npm >/dev/null || { echo "scripts/bun.sh: need npm to fetch Bun $pinned" >&2; exit 1; }
mkdir -p "$dir"
[ -f "$dir/package.json" ] || echo '{"private":true}' > "$dir/package.json"
(cd "$dir" && npm install --no-audit --no-fund --loglevel=error "bun@$pinned" >&2)
[ -x "$bin" ] || { echo "scripts/bun.sh: npm did not produce $bin" >&2; exit 1; }
echo "$bin"
