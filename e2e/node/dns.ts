// Cluster DNS, the part CoreDNS's kubernetes plugin plays: a name under the
// cluster domain becomes an answer from what the Service and EndpointSlice
// informers hold. Pure functions over a snapshot (the catalog), so every rule
// of the Kubernetes DNS spec it follows can be tested without a socket:
//   <svc>.<ns>.svc.<domain>             A: the ClusterIP; headless: ready endpoint IPs;
//                                       ExternalName: a CNAME
//   <host>.<svc>.<ns>.svc.<domain>      A: a headless endpoint (hostname or dashed IP)
//   _<port>._<proto>.<svc>.<ns>.svc...  SRV for a named port
//   <a-b-c-d>.<ns>.pod.<domain>         A: the dashed address ("pods insecure", as kubeadm configures CoreDNS)
// Anything else under the domain is NXDOMAIN; a name that has names below it
// but no records of the asked type is NOERROR with no answers (NODATA).
// Names outside the domain are not ours: the server forwards them.
import type { V1Service, V1EndpointSlice } from '@kubernetes/client-node';
import type { Answer, SoaAnswer, StringAnswer, SrvAnswer } from 'dns-packet';

/** CoreDNS's kubernetes plugin default: clients re-ask soon after a Service changes. */
export const TTL_SECONDS = 5;

export interface NamedPort { name: string; protocol: string; port: number }

export interface EndpointEntry {
  ip: string;
  /** The name the endpoint has under its Service: its hostname, else its dashed address. */
  label: string;
  ports: NamedPort[];
}

export interface ServiceEntry {
  clusterIPs: string[];
  headless: boolean;
  externalName?: string;
  ports: NamedPort[];
  endpoints: EndpointEntry[];
}

export interface Catalog {
  /** Keyed by `<svc>.<ns>`. */
  services: ReadonlyMap<string, ServiceEntry>;
  namespaces: ReadonlySet<string>;
}

export type Resolution =
  | { kind: 'forward' }
  | { kind: 'answer'; rcode: 'NOERROR' | 'NXDOMAIN' | 'SERVFAIL'; answers: Answer[]; additionals: Answer[]; authorities: Answer[] };

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
export const isIPv4 = (s: string): boolean => IPV4.test(s);
const dashed = (ip: string): string => ip.replaceAll('.', '-');

/** The catalog the answers come from, built once per change of the informers' caches. */
export function buildCatalog(services: readonly V1Service[], slices: readonly V1EndpointSlice[]): Catalog {
  const byService = new Map<string, V1EndpointSlice[]>();
  for (const s of slices) {
    const svc = s.metadata?.labels?.['kubernetes.io/service-name'];
    if (!svc || s.addressType !== 'IPv4') continue;
    const key = `${svc}.${s.metadata?.namespace ?? ''}`;
    byService.set(key, [...(byService.get(key) ?? []), s]);
  }
  const entries = new Map<string, ServiceEntry>();
  const namespaces = new Set<string>();
  for (const svc of services) {
    const name = svc.metadata?.name;
    const ns = svc.metadata?.namespace;
    if (!name || !ns) continue;
    namespaces.add(ns);
    const key = `${name}.${ns}`;
    entries.set(key, serviceEntry(svc, byService.get(key) ?? []));
  }
  return { services: entries, namespaces };
}

function serviceEntry(svc: V1Service, slices: readonly V1EndpointSlice[]): ServiceEntry {
  const spec = svc.spec ?? {};
  const ips = spec.clusterIPs ?? (spec.clusterIP ? [spec.clusterIP] : []);
  const publishNotReady = spec.publishNotReadyAddresses === true;
  const seen = new Set<string>();
  const endpoints: EndpointEntry[] = [];
  for (const slice of slices) {
    const ports = (slice.ports ?? []).flatMap((p) => (p.name && p.port !== undefined ? [{ name: p.name, protocol: p.protocol ?? 'TCP', port: p.port }] : []));
    for (const ep of slice.endpoints ?? []) {
      // The EndpointSlice API: an absent `ready` means ready.
      if (!publishNotReady && ep.conditions?.ready === false) continue;
      for (const ip of ep.addresses.filter(isIPv4)) {
        if (seen.has(ip)) continue;
        seen.add(ip);
        endpoints.push({ ip, label: (ep.hostname ?? dashed(ip)).toLowerCase(), ports });
      }
    }
  }
  return {
    clusterIPs: ips.filter(isIPv4),
    headless: spec.clusterIP === 'None',
    ...(spec.type === 'ExternalName' && spec.externalName ? { externalName: spec.externalName } : {}),
    ports: (spec.ports ?? []).flatMap((p) => (p.name ? [{ name: p.name.toLowerCase(), protocol: p.protocol ?? 'TCP', port: p.port }] : [])),
    endpoints,
  };
}

/** The zone's SOA: its minimum is how long resolvers may cache "no such name". */
export function soaRecord(domain: string): SoaAnswer {
  return {
    type: 'SOA', name: domain, ttl: TTL_SECONDS,
    data: { mname: `ns.dns.${domain}`, rname: `hostmaster.${domain}`, serial: 1, refresh: 7200, retry: 1800, expire: 86400, minimum: TTL_SECONDS },
  };
}

interface Question { name: string; type: string }

/**
 * Answers one question. `catalog` is undefined until the informers' first
 * list: a cluster name then gets SERVFAIL (ask again), never a false NXDOMAIN.
 */
export function resolve(q: Question, domain: string, catalog: Catalog | undefined): Resolution {
  const name = q.name.toLowerCase().replace(/\.$/, '');
  const zone = domain.toLowerCase();
  if (name !== zone && !name.endsWith(`.${zone}`)) return { kind: 'forward' };
  if (!catalog) return { kind: 'answer', rcode: 'SERVFAIL', answers: [], additionals: [], authorities: [] };
  const labels = name === zone ? [] : name.slice(0, -(zone.length + 1)).split('.');
  const r = new Responder(q, zone);
  if (labels.length === 0) return q.type === 'SOA' ? r.records([soaRecord(q.name.replace(/\.$/, ''))]) : r.noData();
  const kind = labels.at(-1);
  const rest = labels.slice(0, -1);
  if (kind === 'svc') return serviceName(r, rest, catalog);
  if (kind === 'pod') return podName(r, rest, catalog);
  return r.nxDomain();
}

function podName(r: Responder, labels: string[], catalog: Catalog): Resolution {
  if (labels.length === 0) return r.noData();
  if (labels.length === 1) return catalog.namespaces.has(labels[0] ?? '') ? r.noData() : r.nxDomain();
  const [host, , ...more] = labels;
  const ip = (host ?? '').replaceAll('-', '.');
  if (more.length > 0 || !isIPv4(ip)) return r.nxDomain();
  return r.addresses([ip]);
}

function serviceName(r: Responder, labels: string[], catalog: Catalog): Resolution {
  const ns = labels.at(-1);
  if (ns === undefined) return r.noData();
  if (labels.length === 1) return catalog.namespaces.has(ns) ? r.noData() : r.nxDomain();
  const svcName = labels.at(-2) ?? '';
  const svc = catalog.services.get(`${svcName}.${ns}`);
  if (!svc) return r.nxDomain();
  const below = labels.slice(0, -2);
  const fqdn = `${svcName}.${ns}.svc.${r.zone}`;
  if (below.length === 0) return serviceRecords(r, svc);
  if (below.length === 1) {
    const label = below[0] ?? '';
    // `_tcp.<svc>...` exists when `_<port>._tcp.<svc>...` does: NODATA, not NXDOMAIN.
    if (label.startsWith('_')) return svc.ports.some((p) => `_${p.protocol.toLowerCase()}` === label) ? r.noData() : r.nxDomain();
    const ep = svc.headless ? svc.endpoints.filter((e) => e.label === label) : [];
    return ep.length > 0 ? r.addresses(ep.map((e) => e.ip)) : r.nxDomain();
  }
  if (below.length === 2) return srvRecords(r, svc, below[0] ?? '', below[1] ?? '', fqdn);
  return r.nxDomain();
}

function serviceRecords(r: Responder, svc: ServiceEntry): Resolution {
  if (svc.externalName) return r.records([{ type: 'CNAME', name: r.name, ttl: TTL_SECONDS, data: svc.externalName }]);
  return r.addresses(svc.headless ? svc.endpoints.map((e) => e.ip) : svc.clusterIPs);
}

function srvRecords(r: Responder, svc: ServiceEntry, portLabel: string, protoLabel: string, fqdn: string): Resolution {
  if (!portLabel.startsWith('_') || !protoLabel.startsWith('_')) return r.nxDomain();
  const portName = portLabel.slice(1);
  const protocol = protoLabel.slice(1).toUpperCase();
  const port = svc.ports.find((p) => p.name === portName && p.protocol === protocol);
  if (!port) return r.nxDomain();
  if (r.type !== 'SRV') return r.noData();
  const srv = (target: string, p: number): SrvAnswer => ({ type: 'SRV', name: r.name, ttl: TTL_SECONDS, data: { priority: 0, weight: 100, port: p, target } });
  const a = (name: string, ip: string): StringAnswer => ({ type: 'A', name, ttl: TTL_SECONDS, data: ip });
  if (!svc.headless) return r.records([srv(fqdn, port.port)], svc.clusterIPs.map((ip) => a(fqdn, ip)));
  const targets = svc.endpoints.flatMap((e) => {
    const target = e.ports.find((p) => p.name === portName && p.protocol === protocol);
    return target ? [{ e, port: target.port, name: `${e.label}.${fqdn}` }] : [];
  });
  if (targets.length === 0) return r.noData();
  return r.records(targets.map((t) => srv(t.name, t.port)), targets.map((t) => a(t.name, t.e.ip)));
}

/** Builds the answer shapes for one question, so every branch above says only what it found. */
class Responder {
  readonly name: string;
  readonly type: string;
  readonly zone: string;
  constructor(q: Question, zone: string) {
    this.name = q.name.replace(/\.$/, '');
    this.type = q.type;
    this.zone = zone;
  }
  records(answers: Answer[], additionals: Answer[] = []): Resolution {
    return { kind: 'answer', rcode: 'NOERROR', answers, additionals, authorities: [] };
  }
  /** A records when A (or ANY) was asked; the name exists either way. */
  addresses(ips: readonly string[]): Resolution {
    if ((this.type !== 'A' && this.type !== 'ANY') || ips.length === 0) return this.noData();
    return this.records(ips.map((ip) => ({ type: 'A', name: this.name, ttl: TTL_SECONDS, data: ip })));
  }
  noData(): Resolution {
    return { kind: 'answer', rcode: 'NOERROR', answers: [], additionals: [], authorities: [soaRecord(this.zone)] };
  }
  nxDomain(): Resolution {
    return { kind: 'answer', rcode: 'NXDOMAIN', answers: [], additionals: [], authorities: [soaRecord(this.zone)] };
  }
}
