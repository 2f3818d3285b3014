// One cluster's nodes per host at a time: bridges, cgroups and kube-proxy's
// chains are host-wide, so a second cluster's nodes would tear down the first
// one's pods when they clean up before starting. The lock names
// the holder so the error says what to stop.
import { readFileSync, rmSync, writeFileSync } from 'node:fs';

const HOST_LOCK = '/run/skein-local-node.lock';
/** The node program, which takes the lock. */
const NODE_MAIN = 'e2e/nodes/main.ts';

export function holderOfHostLock(): { pid: number; dir: string } | undefined {
  try {
    const [pid, dir] = readFileSync(HOST_LOCK, 'utf8').split('\n');
    const n = Number(pid);
    const cmdline = readFileSync(`/proc/${n}/cmdline`, 'utf8');
    return cmdline.includes(NODE_MAIN) ? { pid: n, dir: dir ?? '' } : undefined;
  } catch {
    return undefined;
  }
}

export function claimHost(dir: string): void {
  const holder = holderOfHostLock();
  if (holder && holder.pid !== process.pid && holder.dir !== dir) {
    throw new Error(`another Skein local node (pid ${holder.pid}) runs on this host for the cluster in ${holder.dir}; `
      + 'pod networks and iptables rules are host-wide, so only one can run: stop that cluster first (make cluster-down in its checkout)');
  }
  writeFileSync(HOST_LOCK, `${process.pid}\n${dir}\n`);
}

export function releaseHost(): void {
  if (holderOfHostLock()?.pid === process.pid) rmSync(HOST_LOCK, { force: true });
}

/** Whether the host's node belongs to another cluster than the one in `dir` (its cleanup must then touch nothing). */
export function hostHeldByOther(dir: string): string | undefined {
  const holder = holderOfHostLock();
  return holder && holder.dir !== dir ? holder.dir : undefined;
}
