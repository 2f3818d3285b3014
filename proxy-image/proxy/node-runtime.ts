// Reads proxy-image/proxy/node-runtime, the one place that says how Node runs
// the proxy (flags and environment), for the launchers written in TypeScript
// (the image build, the benchmark). The TypeScript compile cache
// lives in the checkout's (or image's) .cache/: with it, Node loads the
// stripped modules from disk instead of the type-stripping WebAssembly
// compiler, which costs ~30 MiB of RSS for the life of the process.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

export interface NodeRuntime {
  flags: string[];
  env: Record<string, string>;
}

const RUNTIME_FILE = resolve(import.meta.dirname, 'node-runtime');
/** Beside node_modules; the image build fills it (proxy-image/Dockerfile), a checkout on first run. */
export const COMPILE_CACHE_DIR = resolve(import.meta.dirname, '../../.cache/node-compile-cache');

/** Pure: `--flag` lines are Node flags, `NAME=value` lines environment; `#` comments and blank lines are skipped. */
export function parseNodeRuntime(text: string): NodeRuntime {
  const out: NodeRuntime = { flags: [], env: {} };
  for (const [i, raw] of text.split('\n').entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    if (line.startsWith('--')) { out.flags.push(line); continue; }
    const m = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line);
    if (!m?.[1] || m[2] === undefined) throw new Error(`${RUNTIME_FILE}:${i + 1}: "${line}" is neither a --flag nor NAME=value`);
    out.env[m[1]] = m[2];
  }
  return out;
}

/** The proxy's runtime, with the compile cache. */
export function proxyNodeRuntime(): NodeRuntime {
  const r = parseNodeRuntime(readFileSync(RUNTIME_FILE, 'utf8'));
  return { flags: r.flags, env: { NODE_COMPILE_CACHE: COMPILE_CACHE_DIR, ...r.env } };
}

/** argv that runs `entry` (a .ts file) as the proxy runs: env(1) sets the environment, so it works as an image entrypoint. */
export function proxyCommand(entry: string, node = process.execPath): string[] {
  const { flags, env } = proxyNodeRuntime();
  return ['/usr/bin/env', ...Object.entries(env).map(([k, v]) => `${k}=${v}`), node, ...flags, entry];
}
