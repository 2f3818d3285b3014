// Before a real node starts: every program and plugin it needs, or one line
// saying what to install. A missing piece would otherwise surface as a node
// that never turns Ready, with the reason deep in a log.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

export class PreflightError extends Error {
  readonly code = 'node_prerequisite_missing';
}

const onPath = (cmd: string): boolean => {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};

export interface Check { what: string; ok: () => boolean; fix: string }

export function nodeChecks(binDir: string): Check[] {
  const deb = (pkg: string) => `install the Debian package ${pkg} (scripts/system-deps.sh nodes does)`;
  return [
    { what: 'containerd', ok: () => onPath('containerd'), fix: deb('containerd') },
    { what: 'ctr', ok: () => onPath('ctr'), fix: deb('containerd') },
    { what: 'runc', ok: () => onPath('runc'), fix: deb('runc') },
    ...['bridge', 'host-local', 'portmap', 'loopback'].map((p) => ({ what: `CNI plugin ${p}`, ok: () => existsSync(`/usr/lib/cni/${p}`), fix: deb('containernetworking-plugins') })),
    ...['kubelet', 'pause', 'coredns', 'kube-proxy'].map((b) => ({ what: b, ok: () => existsSync(join(binDir, b)), fix: 'run e2e/cluster/build-binaries.sh (make binaries)' })),
    { what: 'overlayfs', ok: () => /\boverlay\b/.test(execFileSync('cat', ['/proc/filesystems'], { encoding: 'utf8' })), fix: 'load the overlay kernel module (modprobe overlay)' },
  ];
}

/** Throws with every missing piece and what to do about each. */
export function preflight(binDir: string, checks: readonly Check[] = nodeChecks(binDir)): void {
  const missing = checks.filter((c) => !c.ok());
  if (missing.length > 0) throw new PreflightError(`real nodes cannot start: ${missing.map((c) => `${c.what} is missing: ${c.fix}`).join('; ')}`);
}
