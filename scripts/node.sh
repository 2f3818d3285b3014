#!/usr/bin/env bash
# Prints the path of a Node >= 24 binary, installing the official one from the
# npm registry (package `node`) into .tools/ when the system Node is older.
# A user who already has Node 24+ on PATH is never forced through this.
set -euo pipefail
want_major=24
pinned=24.21.0
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
local_dir="$root/.tools/node"
local_bin="$local_dir/node_modules/node/bin/node"

major_of() { "$1" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }

if sys=$(command -v node 2>/dev/null) && [ "$(major_of "$sys")" -ge "$want_major" ]; then
  echo "$sys"; exit 0
fi
if [ -x "$local_bin" ] && [ "$("$local_bin" --version)" = "v$pinned" ]; then
  echo "$local_bin"; exit 0
fi
command -v npm >/dev/null || { echo "scripts/node.sh: need npm (any version) to fetch Node $pinned; install nodejs/npm first" >&2; exit 1; }
echo "scripts/node.sh: system Node is older than $want_major; installing Node $pinned into .tools/node (once)" >&2
mkdir -p "$local_dir"
[ -f "$local_dir/package.json" ] || echo '{"private":true}' > "$local_dir/package.json"
(cd "$local_dir" && npm install --no-audit --no-fund --loglevel=error "node@$pinned" >&2)
[ -x "$local_bin" ] || { echo "scripts/node.sh: npm did not produce $local_bin" >&2; exit 1; }
echo "$local_bin"
