// What real nodes leave on the host, found and removed: processes, mounts,
// cgroups, bridges, iptables chains, the kubelet's /var/log/containers links.
// `leftovers()` is the check `cluster down` makes after `cleanup()`.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, readlinkSync, rmdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { NETWORK } from '../cluster/components.ts';
import { processesMentioning, stopAll } from '../cluster/procs.ts';
import { HOST_NAMES } from './config.ts';

const CGROUP_ROOT = '/sys/fs/cgroup';
/** libcni's result cache, which containerd 1.6 cannot move: one file per sandbox and network. */
const CNI_RESULTS = '/var/lib/cni/results';
/** Where containerd 1.6's shims listen, whatever its state dir: sha256(socket/namespace/id). */
const SHIM_SOCKETS = '/run/containerd/s';
const CONTAINER_LOGS = '/var/log/containers';

const sh = (cmd: string, args: readonly string[]): string => {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch {
    return '';
  }
};

/** The host's end of the pod network on lo (the API server advertises it to pods) and forwarding between the bridges. */
export function setupHost(): void {
  if (!sh('ip', ['-4', '-o', 'addr', 'show', 'dev', 'lo']).includes(` ${NETWORK.hostIp}/32`)) execFileSync('ip', ['addr', 'add', `${NETWORK.hostIp}/32`, 'dev', 'lo']);
  writeFileSync('/proc/sys/net/ipv4/ip_forward', '1');
}

export function teardownHost(): void {
  sh('ip', ['addr', 'del', `${NETWORK.hostIp}/32`, 'dev', 'lo']);
}

/** cgroup v1 hierarchies mounted here (cgroup2's unified holds none of ours). */
export function cgroupHierarchies(): string[] {
  return readdirSync(CGROUP_ROOT).filter((d) => d !== 'unified' && existsSync(join(CGROUP_ROOT, d, 'cgroup.procs')));
}

/** A node's cgroup parent in every hierarchy; cpuset needs its cpus and mems before a task may join. */
export function createCgroups(parent: string): void {
  for (const h of cgroupHierarchies()) {
    const dir = join(CGROUP_ROOT, h, parent);
    execFileSync('mkdir', ['-p', dir]);
    if (h === 'cpuset') {
      for (const f of ['cpuset.cpus', 'cpuset.mems']) execFileSync('sh', ['-c', `cat ${join(CGROUP_ROOT, h, f)} > ${join(dir, f)}`]);
    }
  }
}

function ourCgroups(): string[] {
  return cgroupHierarchies().flatMap((h) => readdirSync(join(CGROUP_ROOT, h)).filter((d) => d.startsWith(HOST_NAMES.cgroup)).map((d) => join(CGROUP_ROOT, h, d)));
}

/** Every pid in a cgroup tree. */
function pidsUnder(dir: string): number[] {
  const pids = readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
  for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) pids.push(...pidsUnder(join(dir, e.name)));
  return pids;
}

function removeCgroupTree(dir: string): void {
  for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) removeCgroupTree(join(dir, e.name));
  try { rmdirSync(dir); } catch { /* still busy: leftovers() reports it */ }
}

export function mountsUnder(dir: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4] ?? '').filter((m) => m === dir || m.startsWith(`${dir}/`));
}

function bridges(): string[] {
  return readdirSync('/sys/class/net').filter((n) => n.startsWith(HOST_NAMES.bridge));
}

/** veth ends still attached to one of our bridges. */
function bridgePorts(): string[] {
  return bridges().flatMap((b) => (existsSync(`/sys/class/net/${b}/brif`) ? readdirSync(`/sys/class/net/${b}/brif`) : []));
}

/** KUBE-* (kube-proxy, kubelet) and CNI-* (portmap) chains, by table. */
function ourChains(): { table: string; chain: string }[] {
  return ['filter', 'nat', 'mangle'].flatMap((table) => sh('iptables-save', ['-t', table]).split('\n')
    .filter((l) => /^:(KUBE-|CNI-)/.test(l)).map((l) => ({ table, chain: l.slice(1).split(' ')[0] ?? '' })));
}

function removeChains(): void {
  for (const table of ['filter', 'nat', 'mangle']) {
    const lines = sh('iptables-save', ['-t', table]).split('\n');
    for (const rule of lines.filter((l) => /^-A [A-Z]+ .*-j (KUBE-|CNI-)/.test(l) && !/^-A (KUBE-|CNI-)/.test(l))) {
      sh('sh', ['-c', `iptables -t ${table} -D ${rule.slice(3)}`]);
    }
    const chains = lines.filter((l) => /^:(KUBE-|CNI-)/.test(l)).map((l) => l.slice(1).split(' ')[0] ?? '');
    for (const c of chains) sh('iptables', ['-t', table, '-F', c]);
    for (const c of chains) sh('iptables', ['-t', table, '-X', c]);
  }
}

/** Containers and sandboxes each node's containerd has state for: what the CNI cache and shim sockets are keyed by. */
function taskIds(dir: string): { socket: string; id: string }[] {
  const nodesDir = join(dir, 'nodes');
  if (!isDir(nodesDir)) return [];
  return readdirSync(nodesDir).flatMap((node) => {
    const tasks = join(nodesDir, node, 'containerd', 'state', 'io.containerd.runtime.v2.task', 'k8s.io');
    return isDir(tasks) ? readdirSync(tasks).map((id) => ({ socket: join(nodesDir, node, 'containerd.sock'), id })) : [];
  });
}

function runtimeFiles(ids: readonly { socket: string; id: string }[]): string[] {
  const results = isDir(CNI_RESULTS) ? readdirSync(CNI_RESULTS) : [];
  return ids.flatMap(({ socket, id }) => [
    ...results.filter((f) => f.includes(`-${id}-`)).map((f) => join(CNI_RESULTS, f)),
    join(SHIM_SOCKETS, createHash('sha256').update(join(socket, 'k8s.io', id)).digest('hex')),
  ]).filter((f) => existsSync(f));
}

function containerLogLinks(dir: string): string[] {
  if (!existsSync(CONTAINER_LOGS)) return [];
  return readdirSync(CONTAINER_LOGS).map((f) => join(CONTAINER_LOGS, f)).filter((f) => {
    try { return readlinkSync(f).startsWith(dir); } catch { return false; }
  });
}

/**
 * Everything the nodes of the cluster in `dir` left: container processes
 * (by cgroup), kubelets, containerds and shims (by command line), mounts
 * (overlay rootfs, shm, netns, the kubelet's bind mount of its root), cgroups,
 * bridges, chains and log links.
 */
export async function cleanupHost(dir: string): Promise<void> {
  const ids = taskIds(dir);
  const cgroups = ourCgroups();
  const containerPids = [...new Set(cgroups.filter((c) => c.startsWith(join(CGROUP_ROOT, 'pids'))).flatMap(pidsUnder))];
  const daemons = processesMentioning(join(dir, 'nodes'));
  await stopAll([...containerPids, ...daemons], 5_000);
  for (const m of mountsUnder(join(dir, 'nodes')).reverse()) sh('umount', ['-l', m]);
  for (const c of cgroups) removeCgroupTree(c);
  for (const b of bridges()) sh('ip', ['link', 'del', b]);
  removeChains();
  for (const link of containerLogLinks(dir)) rmSync(link, { force: true });
  for (const f of runtimeFiles(ids)) rmSync(f, { force: true });
}

export function leftovers(dir: string): string[] {
  const found: string[] = [];
  const nodesDir = join(dir, 'nodes');
  const procs = processesMentioning(nodesDir);
  if (procs.length > 0) found.push(`processes ${procs.join(', ')}`);
  const mounts = mountsUnder(nodesDir);
  if (mounts.length > 0) found.push(`mounts ${mounts.join(', ')}`);
  const cgroups = ourCgroups();
  if (cgroups.length > 0) found.push(`cgroups ${cgroups.join(', ')}`);
  const links = [...bridges(), ...bridgePorts()];
  if (links.length > 0) found.push(`interfaces ${links.join(', ')}`);
  const chains = ourChains();
  if (chains.length > 0) found.push(`iptables chains ${chains.map((c) => `${c.table}/${c.chain}`).join(', ')}`);
  const runtime = runtimeFiles(taskIds(dir));
  if (runtime.length > 0) found.push(`runtime files ${runtime.join(', ')}`);
  if (sh('ip', ['-4', '-o', 'addr', 'show', 'dev', 'lo']).includes(` ${NETWORK.hostIp}/32`)) found.push(`address ${NETWORK.hostIp} on lo`);
  const logLinks = containerLogLinks(dir);
  if (logLinks.length > 0) found.push(`log links ${logLinks.join(', ')}`);
  return found;
}

export const isDir = (p: string): boolean => existsSync(p) && statSync(p).isDirectory();
