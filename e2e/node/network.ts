// Pod networking on one host, routed rather than bridged (as Calico does it):
// each pod gets a network namespace, a veth pair, a /32 address and a default
// route to the host end, 198.18.0.1, which lives on the host's loopback. The
// host routes each pod address to its veth, so pod-to-pod and pod-to-Service
// traffic crosses the host's iptables, where kube-proxy's rules are.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { readdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { NETWORK } from '../cluster/components.ts';
import { removePodEtc, removeLeftoverPodEtc } from './dns-config.ts';

const exec = promisify(execFile);

export const NETNS_PREFIX = 'skein-';
const VETH_PREFIX = 'skv';

export async function run(cmd: string, args: readonly string[]): Promise<string> {
  try {
    const { stdout } = await exec(cmd, args, { encoding: 'utf8' });
    return stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')}: ${(e.stderr ?? e.message).trim()}`, { cause: err });
  }
}

/** Names derived from the pod UID: stable across restarts of the node, short enough for IFNAMSIZ. */
export function sandboxNames(podUid: string): { netns: string; hostVeth: string } {
  const h = createHash('sha256').update(podUid).digest('hex').slice(0, 10);
  return { netns: `${NETNS_PREFIX}${h}`, hostVeth: `${VETH_PREFIX}${h}` };
}

/** Hands out addresses of a node's /24, lowest free first; .0, .1 and .255 are never given. */
export class Ipam {
  readonly #prefix: string;
  readonly #used = new Set<number>();
  constructor(podCidr: string) {
    const m = /^(\d+\.\d+\.\d+)\.0\/24$/.exec(podCidr);
    if (!m?.[1]) throw new Error(`the local node supports /24 pod CIDRs only, got ${podCidr}`);
    this.#prefix = m[1];
  }
  allocate(): string {
    for (let host = 2; host < 255; host++) {
      if (!this.#used.has(host)) { this.#used.add(host); return `${this.#prefix}.${host}`; }
    }
    throw new Error(`pod CIDR ${this.#prefix}.0/24 is exhausted`);
  }
  /** Claims a given address (a pod keeps its address across restarts of the node); false if not ours or taken. */
  reserve(ip: string): boolean {
    if (!ip.startsWith(`${this.#prefix}.`)) return false;
    const host = Number(ip.split('.')[3]);
    if (host < 2 || host > 254 || this.#used.has(host)) return false;
    this.#used.add(host);
    return true;
  }
  release(ip: string): void {
    if (ip.startsWith(`${this.#prefix}.`)) this.#used.delete(Number(ip.split('.')[3]));
  }
}

export async function setupHost(): Promise<void> {
  const addrs = await run('ip', ['-4', '-o', 'addr', 'show', 'dev', 'lo']);
  if (!addrs.includes(` ${NETWORK.hostIp}/32`)) await run('ip', ['addr', 'add', `${NETWORK.hostIp}/32`, 'dev', 'lo']);
  // Pods reach each other through the host.
  writeFileSync('/proc/sys/net/ipv4/ip_forward', '1');
}

export async function teardownHost(): Promise<void> {
  await run('ip', ['addr', 'del', `${NETWORK.hostIp}/32`, 'dev', 'lo']).catch(() => undefined);
}

export async function createSandbox(podUid: string, ip: string): Promise<{ netns: string; hostVeth: string }> {
  const names = sandboxNames(podUid);
  await deleteSandbox(podUid);
  const podVeth = `${names.hostVeth}p`;
  await run('ip', ['netns', 'add', names.netns]);
  const inNs = (...args: string[]) => run('ip', ['-n', names.netns, ...args]);
  await run('ip', ['link', 'add', names.hostVeth, 'type', 'veth', 'peer', 'name', podVeth, 'netns', names.netns]);
  await inNs('link', 'set', podVeth, 'name', 'eth0');
  await inNs('addr', 'add', `${ip}/32`, 'dev', 'eth0');
  await inNs('link', 'set', 'lo', 'up');
  await inNs('link', 'set', 'eth0', 'up');
  await inNs('route', 'add', NETWORK.hostIp, 'dev', 'eth0', 'scope', 'link');
  await inNs('route', 'add', 'default', 'via', NETWORK.hostIp, 'dev', 'eth0');
  // The host end carries the host address too, so traffic kube-proxy masquerades out of it has a source.
  await run('ip', ['addr', 'add', `${NETWORK.hostIp}/32`, 'dev', names.hostVeth]);
  await run('ip', ['link', 'set', names.hostVeth, 'up']);
  await run('ip', ['route', 'replace', `${ip}/32`, 'dev', names.hostVeth, 'src', NETWORK.hostIp]);
  return names;
}

/** Pids of every process inside a pod's network namespace. */
export async function pidsInNetns(netns: string): Promise<number[]> {
  if (!existsSync(`/run/netns/${netns}`)) return [];
  const out = await run('ip', ['netns', 'pids', netns]).catch(() => '');
  return out.split('\n').filter(Boolean).map(Number);
}

export async function deleteSandbox(podUid: string): Promise<void> {
  const names = sandboxNames(podUid);
  await deleteNetns(names.netns);
  removePodEtc(names.netns);
  await run('ip', ['link', 'del', names.hostVeth]).catch(() => undefined);
}

async function deleteNetns(netns: string): Promise<void> {
  if (!existsSync(`/run/netns/${netns}`)) return;
  for (const pid of await pidsInNetns(netns)) {
    try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
  }
  await run('ip', ['netns', 'del', netns]).catch(() => undefined);
}

export function leftoverNetns(): string[] {
  try {
    return readdirSync('/run/netns').filter((n) => n.startsWith(NETNS_PREFIX));
  } catch {
    return [];
  }
}

export function leftoverVeths(): string[] {
  return readdirSync('/sys/class/net').filter((n) => n.startsWith(VETH_PREFIX));
}

export function hostRoutesToPods(): string[] {
  return readFileSync('/proc/net/route', 'utf8').split('\n').slice(1)
    .filter((l) => l.split('\t')[0]?.startsWith(VETH_PREFIX));
}

/**
 * Chains named KUBE-* that `kube-proxy --cleanup` leaves (KUBE-FIREWALL is
 * shared with the kubelet, so kube-proxy never removes it): jumps to them from
 * the built-in chains go first, then the chains.
 */
export async function removeKubeChains(): Promise<void> {
  for (const table of ['filter', 'nat', 'mangle']) {
    const dump = await run('iptables-save', ['-t', table]).catch(() => '');
    const lines = dump.split('\n');
    for (const rule of lines.filter((l) => /^-A [A-Z]+ .*-j KUBE-/.test(l) && !/^-A KUBE-/.test(l))) {
      await run('iptables', ['-t', table, '-D', ...splitRule(rule.slice(3))]).catch(() => undefined);
    }
    const chains = lines.filter((l) => l.startsWith(':KUBE-')).map((l) => l.slice(1).split(' ')[0] ?? '');
    for (const chain of chains) await run('iptables', ['-t', table, '-F', chain]).catch(() => undefined);
    for (const chain of chains) await run('iptables', ['-t', table, '-X', chain]).catch(() => undefined);
  }
}

/** Splits an iptables-save rule into arguments, keeping quoted comments whole. */
export function splitRule(rule: string): string[] {
  return [...rule.matchAll(/"((?:[^"\\]|\\.)*)"|(\S+)/g)].map((m) => m[1] ?? m[2] ?? '');
}

/** Removes every pod namespace and veth any run of the local node left, including a crashed one. */
export async function cleanupAll(): Promise<void> {
  await removeKubeChains();
  for (const ns of leftoverNetns()) await deleteNetns(ns);
  removeLeftoverPodEtc(NETNS_PREFIX);
  for (const veth of leftoverVeths()) await run('ip', ['link', 'del', veth]).catch(() => undefined);
  await teardownHost();
}
