// A pod's /etc/resolv.conf and /etc/hosts, written as the kubelet writes them.
// `ip netns exec <netns>` bind-mounts every file in /etc/netns/<netns>/ over
// /etc/, and every container of the pod is started through it, so writing
// the files there is all it takes for the pod to see them.
import { mkdirSync, writeFileSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { V1Pod } from '@kubernetes/client-node';
import { NETWORK } from '../cluster/components.ts';

export interface ResolverConfig {
  nameservers: string[];
  searches: string[];
  options: string[];
}

export interface ClusterResolver {
  /** The cluster DNS server's address. */
  nameserver: string;
  domain: string;
  /** The host's own resolver configuration (what dnsPolicy Default hands the pod). */
  host: ResolverConfig;
}

/** The limits the kubelet enforces (it drops what is beyond them). */
const MAX_NAMESERVERS = 3;
const MAX_SEARCHES = 32;

export function parseResolvConf(text: string): ResolverConfig {
  const cfg: ResolverConfig = { nameservers: [], searches: [], options: [] };
  for (const line of text.split('\n')) {
    const [key, ...values] = line.trim().split(/\s+/);
    if (key === 'nameserver' && values[0]) cfg.nameservers.push(values[0]);
    // The last search (or domain) line wins, as in resolv.conf(5).
    if (key === 'search' || key === 'domain') cfg.searches = values;
    if (key === 'options') cfg.options.push(...values);
  }
  return cfg;
}

const optionName = (o: string) => o.split(':')[0] ?? o;

/** Options merged by name, later ones winning, as the kubelet merges dnsConfig.options. */
function mergeOptions(base: readonly string[], extra: readonly string[]): string[] {
  const byName = new Map<string, string>();
  for (const o of [...base, ...extra]) byName.set(optionName(o), o);
  return [...byName.values()];
}

/**
 * The pod's resolver per dnsPolicy: ClusterFirst (the default, and
 * ClusterFirstWithHostNet, since no pod here shares the host's network) puts
 * cluster DNS first and searches the pod's namespace; Default is the host's;
 * None is dnsConfig alone. dnsConfig is appended in every case.
 */
export function podResolverConfig(pod: V1Pod, cluster: ClusterResolver): ResolverConfig {
  const policy = pod.spec?.dnsPolicy ?? 'ClusterFirst';
  const ns = pod.metadata?.namespace ?? 'default';
  const d = cluster.domain;
  let base: ResolverConfig;
  if (policy === 'None') base = { nameservers: [], searches: [], options: [] };
  else if (policy === 'Default') base = cluster.host;
  else base = { nameservers: [cluster.nameserver], searches: [`${ns}.svc.${d}`, `svc.${d}`, d, ...cluster.host.searches], options: ['ndots:5'] };
  const extra = pod.spec?.dnsConfig;
  return {
    nameservers: [...new Set([...base.nameservers, ...(extra?.nameservers ?? [])])].slice(0, MAX_NAMESERVERS),
    searches: [...new Set([...base.searches, ...(extra?.searches ?? [])])].slice(0, MAX_SEARCHES),
    options: mergeOptions(base.options, (extra?.options ?? []).map((o) => (o.value !== undefined ? `${o.name ?? ''}:${o.value}` : o.name ?? '')).filter(Boolean)),
  };
}

export function renderResolvConf(cfg: ResolverConfig): string {
  return [
    ...cfg.nameservers.map((n) => `nameserver ${n}`),
    ...(cfg.searches.length > 0 ? [`search ${cfg.searches.join(' ')}`] : []),
    ...(cfg.options.length > 0 ? [`options ${cfg.options.join(' ')}`] : []),
  ].join('\n') + '\n';
}

/** The kubelet's managed hosts file: localhost, the pod's own name and address, then spec.hostAliases. */
export function podHostsFile(pod: V1Pod, podIP: string, domain: string): string {
  const hostname = (pod.spec?.hostname ?? pod.metadata?.name ?? '').slice(0, 63);
  const subdomain = pod.spec?.subdomain;
  const own = subdomain ? `${hostname}.${subdomain}.${pod.metadata?.namespace ?? 'default'}.svc.${domain}\t${hostname}` : hostname;
  const lines = [
    '# Kubernetes-managed hosts file.',
    '127.0.0.1\tlocalhost',
    '::1\tlocalhost ip6-localhost ip6-loopback',
    'fe00::0\tip6-localnet',
    'fe00::0\tip6-mcastprefix',
    'fe00::1\tip6-allnodes',
    'fe00::2\tip6-allrouters',
    `${podIP}\t${own}`,
  ];
  const aliases = (pod.spec?.hostAliases ?? []).filter((a) => a.hostnames && a.hostnames.length > 0);
  if (aliases.length > 0) {
    lines.push('', '# Entries added by HostAliases.');
    for (const a of aliases) lines.push(`${a.ip}\t${(a.hostnames ?? []).join('\t')}`);
  }
  return lines.join('\n') + '\n';
}

/** The files for a pod whose cluster DNS server listens on `nameserver` (the node's host address). */
export function podEtcFiles(pod: V1Pod, podIP: string, nameserver: string): { resolvConf: string; hosts: string } {
  const host = parseResolvConf(readFileSync('/etc/resolv.conf', 'utf8'));
  const cluster = { nameserver, domain: NETWORK.clusterDomain, host };
  return { resolvConf: renderResolvConf(podResolverConfig(pod, cluster)), hosts: podHostsFile(pod, podIP, NETWORK.clusterDomain) };
}

/** Where `ip netns exec` finds the files it mounts over /etc for a named network namespace. */
export const netnsEtcDir = (netns: string): string => join('/etc/netns', netns);

/** Writes the pod's resolv.conf and hosts for its network namespace; readable by any container user. */
export function writePodEtc(netns: string, files: { resolvConf: string; hosts: string }): void {
  const dir = netnsEtcDir(netns);
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  // Written in place, before any container starts: `ip netns exec` would try to mount a temporary file too.
  writeFileSync(join(dir, 'resolv.conf'), files.resolvConf, { mode: 0o644 });
  writeFileSync(join(dir, 'hosts'), files.hosts, { mode: 0o644 });
}

export function removePodEtc(netns: string): void {
  rmSync(netnsEtcDir(netns), { recursive: true, force: true });
}

/** Files of namespaces whose names start with `prefix` that a crashed run left in /etc/netns. */
export function removeLeftoverPodEtc(prefix: string): void {
  let names: string[];
  try { names = readdirSync('/etc/netns'); } catch { return; }
  for (const n of names.filter((x) => x.startsWith(prefix))) removePodEtc(n);
}
