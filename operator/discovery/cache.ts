// The objects discovery reads, indexed the ways resolution looks them up
// (Service by ClusterIP, slices by Service, Pod by IP). Fed by informer
// events; every change returns the dependency keys it touched, so the hub
// recomputes only the targets that read one of them.
import type { KubernetesObject, V1EndpointSlice, V1Namespace, V1Pod, V1Service } from '@kubernetes/client-node';
import type { EventType } from '../../shared/informer.ts';
import type { PolicyStatusValue } from '../../api/crds/conditions.ts';
import { isServiceRef, type RouteKind } from '../../api/crds/gateway-route.ts';

/** A policy object (ServiceProfile, TrafficSplit, HTTPRouteGroup, AuthorizationPolicy) as the cache holds it. */
export interface PolicyObject extends KubernetesObject {
  spec?: unknown;
  status?: PolicyStatusValue;
}

export interface ClusterView {
  service(namespace: string, name: string): V1Service | undefined;
  serviceByClusterIP(ip: string): V1Service | undefined;
  slicesOf(namespace: string, service: string): V1EndpointSlice[];
  pod(namespace: string, name: string): V1Pod | undefined;
  podByIP(ip: string): V1Pod | undefined;
  namespace(name: string): V1Namespace | undefined;
  serviceProfile(namespace: string, name: string): PolicyObject | undefined;
  /** The TrafficSplits whose root (spec.service) is this Service. */
  trafficSplits(namespace: string, rootService: string): PolicyObject[];
  /** An SMI HTTPRouteGroup, which a TrafficSplit's matches name. */
  httpRouteGroup(namespace: string, name: string): PolicyObject | undefined;
  authorizationPolicies(namespace: string): PolicyObject[];
  /**
   * The HTTPRoutes and GRPCRoutes, in any namespace, one of whose parentRefs
   * names this Service: the last version of each that was valid (a route
   * edited into something unusable keeps routing as it did; its status says why).
   */
  gatewayRoutes(namespace: string, service: string): GatewayRoute[];
}

/** An HTTPRoute or GRPCRoute as the cache holds it: list items carry no `kind`, so it is kept beside. */
export interface GatewayRoute { kind: RouteKind; obj: PolicyObject }

/** Whether a route's spec can be used for routing; the operator's gateway/validate.ts decides. */
export type RouteValidator = (kind: RouteKind, obj: PolicyObject) => boolean;

/** Dependency keys: what a lookup read, and what a change invalidates. Same strings on both sides. */
export const dep = {
  service: (ns: string, name: string) => `svc:${ns}/${name}`,
  clusterIP: (ip: string) => `clusterip:${ip}`,
  slices: (ns: string, service: string) => `slices:${ns}/${service}`,
  pod: (ns: string, name: string) => `pod:${ns}/${name}`,
  podIP: (ip: string) => `podip:${ip}`,
  namespace: (name: string) => `ns:${name}`,
  serviceProfile: (ns: string, name: string) => `sp:${ns}/${name}`,
  trafficSplits: (ns: string, rootService: string) => `ts:${ns}/${rootService}`,
  httpRouteGroup: (ns: string, name: string) => `hrg:${ns}/${name}`,
  authorizationPolicies: (ns: string) => `authz:${ns}`,
  gatewayRoutes: (ns: string, service: string) => `gwroutes:${ns}/${service}`,
};

/** The Services (`namespace/name`) a route's parentRefs name, the GAMMA way (group "" or core, kind Service). */
export function routeParents(obj: PolicyObject | undefined): string[] {
  const refs = (obj?.spec as { parentRefs?: unknown } | undefined)?.parentRefs;
  if (!Array.isArray(refs)) return [];
  const out = new Set<string>();
  for (const r of refs as { group?: unknown; kind?: unknown; name?: unknown; namespace?: unknown }[]) {
    if (!isServiceRef({ group: String(r.group), kind: String(r.kind) }) || typeof r.name !== 'string') continue;
    out.add(`${typeof r.namespace === 'string' ? r.namespace : obj?.metadata?.namespace ?? ''}/${r.name}`);
  }
  return [...out];
}

/** The root Service a TrafficSplit names, if its spec has one. */
function splitRoot(ts: PolicyObject | undefined): string | undefined {
  const s = (ts?.spec as { service?: unknown } | undefined)?.service;
  return typeof s === 'string' ? s : undefined;
}

export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

const keyOf = (o: { metadata?: { namespace?: string; name?: string } }) => `${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;

function clusterIPs(s: V1Service): string[] {
  const ips = s.spec?.clusterIPs ?? (s.spec?.clusterIP ? [s.spec.clusterIP] : []);
  return ips.filter((ip) => ip !== 'None' && ip !== '');
}

/** Pods that own their IP: not host-network (that IP is the node's), not finished (the IP may be reused). */
function podIPs(p: V1Pod): string[] {
  if (p.spec?.hostNetwork === true || p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed') return [];
  const ips = (p.status?.podIPs ?? []).map((i) => i.ip).filter((ip): ip is string => typeof ip === 'string' && ip !== '');
  return ips.length > 0 ? ips : p.status?.podIP ? [p.status.podIP] : [];
}

export class ClusterCache implements ClusterView {
  readonly #services = new Map<string, V1Service>();
  readonly #serviceByIP = new Map<string, string>();
  readonly #slices = new Map<string, V1EndpointSlice>();
  readonly #slicesByService = new Map<string, Set<string>>();
  readonly #pods = new Map<string, V1Pod>();
  readonly #podByIP = new Map<string, string>();
  readonly #namespaces = new Map<string, V1Namespace>();
  readonly #profiles = new Map<string, PolicyObject>();
  readonly #splits = new Map<string, PolicyObject>();
  readonly #routeGroups = new Map<string, PolicyObject>();
  readonly #authz = new Map<string, Map<string, PolicyObject>>();
  /** `kind/ns/name` → the last valid version; parents indexed `ns/service` → route keys. */
  readonly #routes = new Map<string, GatewayRoute>();
  readonly #routesByParent = new Map<string, Set<string>>();
  readonly #routeValid: RouteValidator;

  constructor(routeValid: RouteValidator = () => true) {
    this.#routeValid = routeValid;
  }

  service(namespace: string, name: string): V1Service | undefined {
    return this.#services.get(`${namespace}/${name}`);
  }

  serviceByClusterIP(ip: string): V1Service | undefined {
    const key = this.#serviceByIP.get(ip);
    return key === undefined ? undefined : this.#services.get(key);
  }

  slicesOf(namespace: string, service: string): V1EndpointSlice[] {
    const keys = this.#slicesByService.get(`${namespace}/${service}`) ?? new Set<string>();
    return [...keys].flatMap((k) => this.#slices.get(k) ?? []);
  }

  pod(namespace: string, name: string): V1Pod | undefined {
    return this.#pods.get(`${namespace}/${name}`);
  }

  podByIP(ip: string): V1Pod | undefined {
    const key = this.#podByIP.get(ip);
    return key === undefined ? undefined : this.#pods.get(key);
  }

  namespace(name: string): V1Namespace | undefined {
    return this.#namespaces.get(name);
  }

  serviceProfile(namespace: string, name: string): PolicyObject | undefined {
    return this.#profiles.get(`${namespace}/${name}`);
  }

  trafficSplits(namespace: string, rootService: string): PolicyObject[] {
    return [...this.#splits.values()].filter((ts) => ts.metadata?.namespace === namespace && splitRoot(ts) === rootService);
  }

  httpRouteGroup(namespace: string, name: string): PolicyObject | undefined {
    return this.#routeGroups.get(`${namespace}/${name}`);
  }

  authorizationPolicies(namespace: string): PolicyObject[] {
    return [...(this.#authz.get(namespace)?.values() ?? [])];
  }

  gatewayRoutes(namespace: string, service: string): GatewayRoute[] {
    return [...(this.#routesByParent.get(`${namespace}/${service}`) ?? [])].flatMap((k) => this.#routes.get(k) ?? []);
  }

  /**
   * A route added, changed or deleted. An invalid version does not replace a
   * valid one (the last good configuration keeps serving), but an invalid
   * new route is not used at all.
   */
  applyGatewayRoute(kind: RouteKind, type: EventType, obj: PolicyObject): string[] {
    const key = `${kind}/${keyOf(obj)}`;
    const old = this.#routes.get(key);
    if (type !== 'deleted' && !this.#routeValid(kind, obj)) return [];
    const parents = new Set([...routeParents(old?.obj), ...routeParents(obj)]);
    for (const p of routeParents(old?.obj)) {
      const set = this.#routesByParent.get(p);
      set?.delete(key);
      if (set?.size === 0) this.#routesByParent.delete(p);
    }
    if (type === 'deleted') this.#routes.delete(key);
    else {
      this.#routes.set(key, { kind, obj });
      for (const p of routeParents(obj)) {
        const set = this.#routesByParent.get(p) ?? new Set<string>();
        set.add(key);
        this.#routesByParent.set(p, set);
      }
    }
    return [...parents].map((p) => { const [ns = '', svc = ''] = p.split('/'); return dep.gatewayRoutes(ns, svc); });
  }

  applyNamespace(type: EventType, n: V1Namespace): string[] {
    const name = n.metadata?.name ?? '';
    if (type === 'deleted') this.#namespaces.delete(name); else this.#namespaces.set(name, n);
    return [dep.namespace(name)];
  }

  applyServiceProfile(type: EventType, sp: PolicyObject): string[] {
    const key = keyOf(sp);
    if (type === 'deleted') this.#profiles.delete(key); else this.#profiles.set(key, sp);
    return [dep.serviceProfile(sp.metadata?.namespace ?? '', sp.metadata?.name ?? '')];
  }

  applyTrafficSplit(type: EventType, ts: PolicyObject): string[] {
    const key = keyOf(ts);
    const ns = ts.metadata?.namespace ?? '';
    const roots = new Set([splitRoot(this.#splits.get(key)), splitRoot(ts)].filter((r): r is string => r !== undefined));
    if (type === 'deleted') this.#splits.delete(key); else this.#splits.set(key, ts);
    return [...roots].map((r) => dep.trafficSplits(ns, r));
  }

  applyHTTPRouteGroup(type: EventType, g: PolicyObject): string[] {
    const key = keyOf(g);
    if (type === 'deleted') this.#routeGroups.delete(key); else this.#routeGroups.set(key, g);
    return [dep.httpRouteGroup(g.metadata?.namespace ?? '', g.metadata?.name ?? '')];
  }

  applyAuthorizationPolicy(type: EventType, ap: PolicyObject): string[] {
    const ns = ap.metadata?.namespace ?? '';
    const inNs = this.#authz.get(ns) ?? new Map<string, PolicyObject>();
    if (type === 'deleted') inNs.delete(ap.metadata?.name ?? ''); else inNs.set(ap.metadata?.name ?? '', ap);
    if (inNs.size === 0) this.#authz.delete(ns); else this.#authz.set(ns, inNs);
    return [dep.authorizationPolicies(ns)];
  }

  applyService(type: EventType, s: V1Service): string[] {
    const key = keyOf(s);
    const old = this.#services.get(key);
    for (const ip of old ? clusterIPs(old) : []) if (this.#serviceByIP.get(ip) === key) this.#serviceByIP.delete(ip);
    if (type === 'deleted') this.#services.delete(key);
    else {
      this.#services.set(key, s);
      for (const ip of clusterIPs(s)) this.#serviceByIP.set(ip, key);
    }
    const ips = new Set([...(old ? clusterIPs(old) : []), ...clusterIPs(s)]);
    return [dep.service(s.metadata?.namespace ?? '', s.metadata?.name ?? ''), ...[...ips].map(dep.clusterIP)];
  }

  applySlice(type: EventType, e: V1EndpointSlice): string[] {
    const key = keyOf(e);
    const ns = e.metadata?.namespace ?? '';
    const old = this.#slices.get(key);
    const owners = new Set<string>();
    for (const s of [old, e]) {
      const svc = s?.metadata?.labels?.[SERVICE_NAME_LABEL];
      if (svc !== undefined) owners.add(svc);
    }
    for (const svc of owners) this.#slicesByService.get(`${ns}/${svc}`)?.delete(key);
    if (type === 'deleted') this.#slices.delete(key);
    else {
      this.#slices.set(key, e);
      const svc = e.metadata?.labels?.[SERVICE_NAME_LABEL];
      if (svc !== undefined) {
        const set = this.#slicesByService.get(`${ns}/${svc}`) ?? new Set<string>();
        set.add(key);
        this.#slicesByService.set(`${ns}/${svc}`, set);
      }
    }
    return [...owners].map((svc) => dep.slices(ns, svc));
  }

  applyPod(type: EventType, p: V1Pod): string[] {
    const key = keyOf(p);
    const old = this.#pods.get(key);
    for (const ip of old ? podIPs(old) : []) if (this.#podByIP.get(ip) === key) this.#podByIP.delete(ip);
    if (type === 'deleted') this.#pods.delete(key);
    else {
      this.#pods.set(key, p);
      for (const ip of podIPs(p)) this.#podByIP.set(ip, key);
    }
    const ips = new Set([...(old ? podIPs(old) : []), ...podIPs(p)]);
    return [dep.pod(p.metadata?.namespace ?? '', p.metadata?.name ?? ''), ...[...ips].map(dep.podIP)];
  }
}

/** A view that notes every key it was asked for: exactly what a resolution depends on. */
export function recording(view: ClusterView): { view: ClusterView; deps: Set<string> } {
  const deps = new Set<string>();
  return {
    deps,
    view: {
      service: (ns, name) => { deps.add(dep.service(ns, name)); return view.service(ns, name); },
      serviceByClusterIP: (ip) => { deps.add(dep.clusterIP(ip)); return view.serviceByClusterIP(ip); },
      slicesOf: (ns, svc) => { deps.add(dep.slices(ns, svc)); return view.slicesOf(ns, svc); },
      pod: (ns, name) => { deps.add(dep.pod(ns, name)); return view.pod(ns, name); },
      podByIP: (ip) => { deps.add(dep.podIP(ip)); return view.podByIP(ip); },
      namespace: (name) => { deps.add(dep.namespace(name)); return view.namespace(name); },
      serviceProfile: (ns, name) => { deps.add(dep.serviceProfile(ns, name)); return view.serviceProfile(ns, name); },
      trafficSplits: (ns, root) => { deps.add(dep.trafficSplits(ns, root)); return view.trafficSplits(ns, root); },
      httpRouteGroup: (ns, name) => { deps.add(dep.httpRouteGroup(ns, name)); return view.httpRouteGroup(ns, name); },
      authorizationPolicies: (ns) => { deps.add(dep.authorizationPolicies(ns)); return view.authorizationPolicies(ns); },
      gatewayRoutes: (ns, svc) => { deps.add(dep.gatewayRoutes(ns, svc)); return view.gatewayRoutes(ns, svc); },
    },
  };
}

/** The ServiceAccount a known pod runs as (`default` when the spec names none); undefined for an unknown pod. */
export function serviceAccountOf(view: ClusterView, namespace: string, pod: string): string | undefined {
  const p = view.pod(namespace, pod);
  return p ? p.spec?.serviceAccountName ?? 'default' : undefined;
}
