// The routes attached to one Service port, for one client namespace,
// compiled into the RouteTable a proxy runs (pure): every match in
// precedence order, each rule's backends and filters, and each Service a
// backend or a mirror names with its ready endpoints, once. A backendRef
// that resolves to nothing stays in its rule with no Service: the proxy
// answers that share of the requests 500, as the spec asks. A rule without
// backendRefs goes to the parent Service itself (the mesh's meaning of a
// route that only matches or filters).
import type { V1Service } from '@kubernetes/client-node';
import type { BackendRef, GRPCRouteMatch, HeaderMatch, HTTPRouteMatch, RouteFilter as SpecFilter } from '../../api/crds/gateway-route.ts';
import { isServiceBackend } from '../../api/crds/gateway-route.ts';
import { parseDurationMs } from '../../api/duration.ts';
import type { Endpoint, RouteFilter, RouteMatch, RouteRule, RouteTable, ValueMatch } from '../../api/discovery-protocol.ts';
import type { ClusterView } from '../discovery/cache.ts';
import { resolveService, type ResolveConfig } from '../discovery/resolve.ts';
import { attachedRoutes, type AttachedRoute } from './attach.ts';
import { byPrecedence, type RankedMatch } from './precedence.ts';

export type RouteConfig = ResolveConfig & { clusterDomain: string };

/** The table for calls from `clientNs` to `svc:port`; undefined when no route attaches. */
export function compileRoutes(view: ClusterView, svc: V1Service, port: number, clientNs: string | undefined, cfg: RouteConfig): RouteTable | undefined {
  const ns = svc.metadata?.namespace ?? '';
  const name = svc.metadata?.name ?? '';
  const routes = attachedRoutes(view, ns, name, port, clientNs);
  if (routes.length === 0) return undefined;
  const backends = new Map<string, Endpoint[]>();
  const resolveBackend = (ref: { name: string; namespace?: string | undefined; group?: string | undefined; kind?: string | undefined; port?: number | undefined }, routeNs: string): string | undefined => {
    const r = backendService(view, ref, routeNs);
    if (!r) return undefined;
    const key = `${r.name}.${r.namespace}.svc.${cfg.clusterDomain}:${r.port}`;
    if (!backends.has(key)) backends.set(key, resolveService(view, r.svc, r.port, cfg).endpoints);
    return key;
  };
  const parent = resolveBackend({ name, namespace: ns, port }, ns);
  const rules: RouteRule[] = [];
  const ranked: RankedMatch[] = [];
  for (const r of routes) {
    r.route.spec.rules.forEach((rule, ruleIndex) => {
      const index = rules.length;
      rules.push(compileRule(r, rule, ruleIndex, parent, (ref) => resolveBackend(ref, r.namespace)));
      const matches = r.kind === 'HTTPRoute' ? httpMatches(r.route.spec.rules[ruleIndex]?.matches as HTTPRouteMatch[] | undefined) : grpcMatches(rule.matches as GRPCRouteMatch[] | undefined);
      matches.forEach((m, matchIndex) => ranked.push({ ...m, created: r.created, route: `${r.namespace}/${r.name}`, ruleIndex, matchIndex, rule: index } as RankedMatch & { rule: number }));
    });
  }
  const ordered = (ranked as (RankedMatch & { rule: number })[]).sort(byPrecedence);
  return {
    matches: ordered.map((m) => ({ match: m.match, rule: m.rule })),
    rules,
    backends: [...backends].map(([service, endpoints]) => ({ service, endpoints })),
  };
}

/** The Service and port a backendRef names, when it exists and is one Skein may send to. */
export function backendService(view: ClusterView, ref: { name: string; namespace?: string | undefined; group?: string | undefined; kind?: string | undefined; port?: number | undefined }, routeNs: string): { svc: V1Service; name: string; namespace: string; port: number } | undefined {
  // Another namespace's backend needs a ReferenceGrant, which Skein does not read: refused (RefNotPermitted).
  if (!isServiceBackend(ref) || (ref.namespace ?? routeNs) !== routeNs || ref.port === undefined) return undefined;
  const svc = view.service(routeNs, ref.name);
  if (!svc || !(svc.spec?.ports ?? []).some((p) => p.port === ref.port && (p.protocol ?? 'TCP') === 'TCP')) return undefined;
  return { svc, name: ref.name, namespace: routeNs, port: ref.port };
}

type RuleSpec = AttachedRoute['route']['spec']['rules'][number];

function compileRule(r: AttachedRoute, rule: RuleSpec, index: number, parent: string | undefined, resolve: (ref: BackendRef) => string | undefined): RouteRule {
  const refs = rule.backendRefs ?? [];
  const backends = refs.length === 0
    ? [{ ...(parent ? { service: parent } : {}), weight: 1 }]
    : refs.map((b) => { const service = resolve(b); return { ...(service ? { service } : {}), weight: b.weight }; });
  const filters = (rule.filters ?? []).flatMap((f) => compileFilter(f, resolve));
  const http = r.kind === 'HTTPRoute' ? (rule as { timeouts?: { request?: string; backendRequest?: string }; retry?: { codes?: number[]; attempts?: number; backoff?: string } }) : {};
  const requestTimeoutMs = ms(http.timeouts?.request);
  const backendTimeoutMs = ms(http.timeouts?.backendRequest);
  const retry = http.retry ? { codes: http.retry.codes ?? [], attempts: http.retry.attempts ?? 1, ...(http.retry.backoff ? { backoffMs: ms(http.retry.backoff) ?? 0 } : {}) } : undefined;
  return {
    route: { kind: r.kind, namespace: r.namespace, name: r.name },
    rule: rule.name ?? String(index),
    backends, filters,
    ...(requestTimeoutMs ? { requestTimeoutMs } : {}),
    ...(backendTimeoutMs ? { backendTimeoutMs } : {}),
    ...(retry ? { retry } : {}),
  };
}

/** A zero duration means no timeout, as the spec says. */
function ms(text: string | undefined): number | undefined {
  const v = text === undefined ? undefined : parseDurationMs(text);
  return v === undefined || v === 0 ? undefined : v;
}

const edit = (m: { set?: { name: string; value: string }[] | undefined; add?: { name: string; value: string }[] | undefined; remove?: string[] | undefined }) => ({
  set: (m.set ?? []).map((h) => ({ name: h.name.toLowerCase(), value: h.value })),
  add: (m.add ?? []).map((h) => ({ name: h.name.toLowerCase(), value: h.value })),
  remove: (m.remove ?? []).map((n) => n.toLowerCase()),
});

const pathEdit = (p: { type: 'ReplaceFullPath' | 'ReplacePrefixMatch'; replaceFullPath?: string | undefined; replacePrefixMatch?: string | undefined } | undefined) =>
  (p ? { path: { type: p.type, value: (p.type === 'ReplaceFullPath' ? p.replaceFullPath : p.replacePrefixMatch) ?? '/' } } : {});

export function compileFilter(f: SpecFilter, resolve: (ref: BackendRef) => string | undefined): RouteFilter[] {
  switch (f.type) {
    case 'RequestHeaderModifier': return f.requestHeaderModifier ? [{ type: f.type, edit: edit(f.requestHeaderModifier) }] : [];
    case 'ResponseHeaderModifier': return f.responseHeaderModifier ? [{ type: f.type, edit: edit(f.responseHeaderModifier) }] : [];
    case 'RequestRedirect': {
      const r = f.requestRedirect;
      if (!r) return [];
      return [{ type: f.type, statusCode: r.statusCode, ...(r.scheme ? { scheme: r.scheme } : {}), ...(r.hostname ? { hostname: r.hostname } : {}), ...(r.port ? { port: r.port } : {}), ...pathEdit(r.path) }];
    }
    case 'URLRewrite': {
      const u = f.urlRewrite;
      return u ? [{ type: f.type, ...(u.hostname ? { hostname: u.hostname } : {}), ...pathEdit(u.path) }] : [];
    }
    case 'RequestMirror': {
      const m = f.requestMirror;
      if (!m) return [];
      const service = resolve({ ...m.backendRef, weight: 1 });
      const percent = m.fraction ? (100 * m.fraction.numerator) / m.fraction.denominator : m.percent ?? 100;
      return [{ type: f.type, ...(service ? { service } : {}), percent }];
    }
    default: return [];
  }
}

const values = (list: readonly HeaderMatch[] | undefined, lower: boolean): ValueMatch[] =>
  (list ?? []).map((h) => ({ type: h.type, name: lower ? h.name.toLowerCase() : h.name, value: h.value }));

/** An HTTPRoute rule's matches; none means every request (a `/` prefix). */
export function httpMatches(matches: readonly HTTPRouteMatch[] | undefined): { match: RouteMatch }[] {
  const list = matches && matches.length > 0 ? matches : [{}];
  return list.map((m: HTTPRouteMatch) => ({
    match: {
      path: m.path ?? { type: 'PathPrefix', value: '/' },
      ...(m.method ? { method: m.method } : {}),
      headers: values(m.headers, true), queryParams: values(m.queryParams, false), grpc: false,
    },
  }));
}

const escapeRegex = (s: string): string => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

/** A GRPCRoute rule's matches as paths (`/<service>/<method>`), with the lengths precedence counts. */
export function grpcMatches(matches: readonly GRPCRouteMatch[] | undefined): { match: RouteMatch; grpcService: number; grpcMethod: number }[] {
  const list = matches && matches.length > 0 ? matches : [{}];
  return list.map((m: GRPCRouteMatch) => {
    const mm = m.method;
    const headers = values(m.headers, true);
    const service = mm?.service;
    const method = mm?.method;
    const lengths = { grpcService: service?.length ?? 0, grpcMethod: method?.length ?? 0 };
    if (!mm || (service === undefined && method === undefined)) return { match: { headers, queryParams: [], grpc: true }, ...lengths };
    const regex = mm.type === 'RegularExpression';
    let path: RouteMatch['path'];
    if (!regex && service !== undefined && method !== undefined) path = { type: 'Exact', value: `/${service}/${method}` };
    else if (!regex && method === undefined) path = { type: 'PathPrefix', value: `/${service ?? ''}` };
    else {
      const s = service === undefined ? '[^/]+' : regex ? `(?:${service})` : escapeRegex(service);
      const me = method === undefined ? '[^/]+' : regex ? `(?:${method})` : escapeRegex(method);
      path = { type: 'RegularExpression', value: `/${s}/${me}` };
    }
    return { match: { path, headers, queryParams: [], grpc: true }, ...lengths };
  });
}
