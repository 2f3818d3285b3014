// One node implementation per host at a time: pod networks, bridges, cgroups
// and kube-proxy's chains are host-wide, so a second cluster's node would tear
// down the first one's pods when it cleans up before starting. The lock names
// the holder so the error says what to stop.
import { readFileSync, rmSync, writeFileSync } from 'node:fs';

const HOST_LOCK = '/run/skein-local-node.lock';
/** The node programs that take the lock (the imitation and the real nodes). */
const NODE_MAINS = ['e2e/node/main.ts', 'e2e/nodes/main.ts'];

export function holderOfHostLock(): { pid: number; dir: string } | undefined {
  try {
    const [pid, dir] = readFileSync(HOST_LOCK, 'utf8').split('\n');
    const n = Number(pid);
    const cmdline = readFileSync(`/proc/${n}/cmdline`, 'utf8');
    return NODE_MAINS.some((m) => cmdline.includes(m)) ? { pid: n, dir: dir ?? '' } : undefined;
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
