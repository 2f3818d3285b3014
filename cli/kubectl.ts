// Rendering goes through the real `kubectl kustomize`: the CLI prints exactly
// what `kubectl apply -k` (and Argo CD or Flux) would apply, never a copy.
// Which kubectl: $SKEIN_KUBECTL, then `kubectl` on PATH (a kubectl plugin is
// run by one), then the newest in the local cluster's cache
// (~/.cache/skein/k8s/<version>/kubectl, built by `make binaries`).
import { execFile } from 'node:child_process';
import { accessSync, constants, readdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';
import { CliError } from './errors.ts';

export interface KubectlLookup {
  env: Record<string, string | undefined>;
  home: string;
  isExecutable: (path: string) => boolean;
  listDir: (path: string) => string[];
}

/** Orders "v1.35.4" after "v1.9.0": by numeric parts, not as strings. */
export function compareVersions(a: string, b: string): number {
  const parts = (v: string) => v.replace(/^v/, '').split('.').map((p) => Number.parseInt(p, 10) || 0);
  const [pa, pb] = [parts(a), parts(b)];
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

export function kubectlCandidates(l: KubectlLookup): string[] {
  const fromEnv = l.env.SKEIN_KUBECTL ? [l.env.SKEIN_KUBECTL] : [];
  const onPath = (l.env.PATH ?? '').split(delimiter).filter(Boolean).map((dir) => join(dir, 'kubectl'));
  const cache = join(l.env.XDG_CACHE_HOME ?? join(l.home, '.cache'), 'skein', 'k8s');
  const cached = l.listDir(cache).filter((v) => /^v\d/.test(v)).sort(compareVersions).reverse().map((v) => join(cache, v, 'kubectl'));
  return [...fromEnv, ...onPath, ...cached];
}

export function findKubectl(l: KubectlLookup): string {
  const found = kubectlCandidates(l).find((p) => l.isExecutable(p));
  if (!found) {
    throw new CliError('kubectl_not_found', 'no kubectl found: put kubectl (>= 1.29) on PATH, or set SKEIN_KUBECTL to its path');
  }
  return found;
}

export const systemLookup = (): KubectlLookup => ({
  env: process.env,
  home: homedir(),
  isExecutable: (p) => { try { accessSync(p, constants.X_OK); return true; } catch { return false; } },
  listDir: (p) => { try { return readdirSync(p); } catch { return []; } },
});

/** `kubectl kustomize <dir>`: the rendered YAML stream. */
export async function kustomize(dir: string, kubectl = findKubectl(systemLookup())): Promise<string> {
  try {
    const { stdout } = await promisify(execFile)(kubectl, ['kustomize', dir], { maxBuffer: 64 * 1024 * 1024 });
    return stdout;
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr?.trim();
    throw new CliError('kubectl_failed', `\`${kubectl} kustomize ${dir}\` failed: ${stderr || (err as Error).message}`);
  }
}
