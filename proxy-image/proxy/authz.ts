// Inbound authorization: which clients the app's ports admit, from the
// InboundUpdate discovery sends for this pod (compiled once per update).
// Kubelet probes (GET on a probe's port and path) always pass, so `deny`
// never kills a pod. A port some AuthorizationPolicy targets admits only
// what one of its authorizations allows; other ports follow the default
// policy. Until discovery first answers, the default policy from the
// proxy's environment (SKEIN_DEFAULT_INBOUND_POLICY) applies, with the
// probes the injector wrote (SKEIN_PROBES): a pod under `deny` whose
// InboundUpdate is late (its pod not yet in the controller's cache, the
// control plane away) still passes its probes. If discovery never answers
// that stays so, and the last good update is kept while it is away. Pure:
// CIDRs are matched with node:net's BlockList.
import { BlockList, isIP } from 'node:net';
import type { Authorization, DefaultInboundPolicy, InboundUpdate } from '../../api/discovery-protocol.ts';
import type { ProbeTarget } from '../../api/sidecar.ts';

export interface Client {
  /** The verified mTLS identity; undefined for plaintext. */
  identity: string | undefined;
  /** The client's address as the socket saw it. */
  ip: string;
}

/** Fixed values: the `reason` label of inbound_refused_total (prefixed `unauthorized_`) and the 403's explanation. */
export type RefusalReason = 'deny' | 'unauthenticated' | 'not_cluster' | 'not_authorized';

export type Decision =
  | { allowed: true }
  | { allowed: false; reason: RefusalReason; /** `namespace/name` of the policy, or `default:<policy>`. */ policy: string };

interface CompiledAuthorization {
  identities: ReadonlySet<string>;
  suffixes: readonly string[];
  anyMeshed: boolean;
  networks: BlockList | undefined;
}

export interface InboundPolicy {
  readonly defaultPolicy: DefaultInboundPolicy;
  readonly ports: ReadonlyMap<number, { policies: string; authorizations: readonly CompiledAuthorization[] }>;
  /** Probe paths per port. */
  readonly probes: ReadonlyMap<number, ReadonlySet<string>>;
  readonly clusterNetworks: BlockList | undefined;
}

/** A kubelet HTTP probe of the app: GET (or HEAD) on this port and path. */

/** The policy before discovery has answered: the default from the environment, no port rules, the probes the injector saw. */
export function defaultOnly(defaultPolicy: DefaultInboundPolicy, ownProbes: readonly ProbeTarget[] = []): InboundPolicy {
  return { defaultPolicy, ports: new Map(), probes: probePaths(ownProbes), clusterNetworks: undefined };
}

/** Probe paths per port, from any number of lists (duplicates merge). */
function probePaths(...lists: (readonly ProbeTarget[])[]): Map<number, Set<string>> {
  const probes = new Map<number, Set<string>>();
  for (const list of lists) {
    for (const p of list) {
      const paths = probes.get(p.port) ?? new Set<string>();
      paths.add(p.path);
      probes.set(p.port, paths);
    }
  }
  return probes;
}

/** A BlockList of the CIDRs (v4 and v6); bad entries are skipped (the operator validated them). */
export function networks(cidrs: readonly string[]): BlockList | undefined {
  if (cidrs.length === 0) return undefined;
  const list = new BlockList();
  for (const cidr of cidrs) {
    const [address, bits] = cidr.split('/');
    const family = isIP(address ?? '');
    if (family === 0) continue;
    const type = family === 6 ? 'ipv6' : 'ipv4';
    const prefix = bits === undefined ? (family === 6 ? 128 : 32) : Number(bits);
    if (!Number.isInteger(prefix)) continue;
    list.addSubnet(address!, prefix, type);
  }
  return list;
}

/** IPv4 clients on a dual-stack socket show as ::ffff:a.b.c.d; they match IPv4 CIDRs. */
export function inNetworks(list: BlockList | undefined, ip: string): boolean {
  if (!list) return false;
  const v4 = ip.startsWith('::ffff:') && isIP(ip.slice(7)) === 4 ? ip.slice(7) : undefined;
  if (v4 !== undefined) return list.check(v4, 'ipv4');
  const family = isIP(ip);
  return family !== 0 && list.check(ip, family === 6 ? 'ipv6' : 'ipv4');
}

function compileAuthorization(a: Authorization): CompiledAuthorization {
  return { identities: new Set(a.identities), suffixes: a.identitySuffixes, anyMeshed: a.anyMeshed, networks: networks(a.unauthenticatedNetworks) };
}

/** `ownProbes` (the injector's list) are kept beside discovery's: a pod's probes cannot change, and an older controller may not send them. */
export function compileInbound(u: InboundUpdate, ownProbes: readonly ProbeTarget[] = []): InboundPolicy {
  const ports = new Map<number, { policies: string; authorizations: CompiledAuthorization[] }>();
  for (const p of u.ports) {
    const entry = ports.get(p.port) ?? { policies: '', authorizations: [] };
    entry.authorizations.push(...p.authorizations.map(compileAuthorization));
    entry.policies = [entry.policies, ...p.authorizations.map((a) => a.policy)].filter((x) => x !== '').join(',');
    ports.set(p.port, entry);
  }
  return { defaultPolicy: u.defaultPolicy, ports, probes: probePaths(u.probes, ownProbes), clusterNetworks: networks(u.clusterNetworks) };
}

function admitted(a: CompiledAuthorization, c: Client): boolean {
  if (c.identity !== undefined) {
    if (a.anyMeshed || a.identities.has(c.identity)) return true;
    for (const s of a.suffixes) if (c.identity.endsWith(s)) return true;
    return false;
  }
  return inNetworks(a.networks, c.ip);
}

const ALLOWED: Decision = { allowed: true };

/** The decision for a client on an app port, before any request is read (opaque TCP, and the basis for HTTP). */
export function authorizeConnection(policy: InboundPolicy, port: number, c: Client): Decision {
  const targeted = policy.ports.get(port);
  if (targeted) {
    for (const a of targeted.authorizations) if (admitted(a, c)) return ALLOWED;
    return { allowed: false, reason: c.identity === undefined ? 'unauthenticated' : 'not_authorized', policy: targeted.policies };
  }
  const policyName = `default:${policy.defaultPolicy}`;
  switch (policy.defaultPolicy) {
    case 'all-unauthenticated':
      return ALLOWED;
    case 'all-authenticated':
      return c.identity !== undefined ? ALLOWED : { allowed: false, reason: 'unauthenticated', policy: policyName };
    case 'cluster-authenticated':
      return c.identity !== undefined || inNetworks(policy.clusterNetworks, c.ip) ? ALLOWED : { allowed: false, reason: 'not_cluster', policy: policyName };
    case 'deny':
      return { allowed: false, reason: 'deny', policy: policyName };
  }
}

/** An HTTP request: a probe (GET or HEAD on a probe path of this port, query ignored) passes whatever the policy says. */
export function authorizeRequest(policy: InboundPolicy, port: number, c: Client, method: string, url: string, connection?: Decision): Decision {
  const d = connection ?? authorizeConnection(policy, port, c);
  if (d.allowed) return d;
  const paths = policy.probes.get(port);
  if (paths && (method === 'GET' || method === 'HEAD')) {
    const q = url.indexOf('?');
    if (paths.has(q < 0 ? url : url.slice(0, q))) return ALLOWED;
  }
  return d;
}

/** True when no rule can refuse anything: the hot path skips authorization. */
export function admitsEverything(policy: InboundPolicy): boolean {
  return policy.defaultPolicy === 'all-unauthenticated' && policy.ports.size === 0;
}
