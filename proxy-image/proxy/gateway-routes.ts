// Gateway API routes as the proxy runs them (pure apart from the balancers
// it is handed): the operator's RouteTable compiled once per Update into
// predicates (regexes built once, anchored), then per request the first
// match in the table's precedence order picks a rule, a backend is drawn by
// weight, and the rule's filters say how the request and its answer change.
import type { IncomingHttpHeaders } from 'node:http';
import type { Endpoint, HeaderEdit, PathEdit, RouteFilter, RouteMatch, RouteRule, RouteTable, ValueMatch } from '../../api/discovery-protocol.ts';
import { compilePathRegex } from '../../api/crds/path-regex.ts';
import type { Balancer } from './balancer.ts';
import { isGrpc } from './headers.ts';
import { pathOf, type CompiledRoute } from './routes.ts';

type Predicate = (method: string, path: string, query: URLSearchParams | undefined, headers: IncomingHttpHeaders) => boolean;

export interface CompiledRule {
  readonly spec: RouteRule;
  /** The `route` label: the rule's name or index. */
  readonly label: string;
  /** The rule's retry as the retry layer reads it; undefined: connection failures only. */
  readonly retry: { statuses: ReadonlySet<number>; maxAttempts: number; backoffMs: number } | undefined;
  readonly requestEdit: HeaderEdit | undefined;
  readonly responseEdit: HeaderEdit | undefined;
  readonly redirect: Extract<RouteFilter, { type: 'RequestRedirect' }> | undefined;
  readonly rewrite: Extract<RouteFilter, { type: 'URLRewrite' }> | undefined;
  readonly mirrors: readonly Extract<RouteFilter, { type: 'RequestMirror' }>[];
  /** The rule as the balance and retry layers read a route: timeouts, retries, the `route` label. */
  readonly route: CompiledRoute;
}

export interface Matched {
  rule: CompiledRule;
  /** The path match that chose the rule (a PathPrefix rewrite replaces what it matched). */
  path: RouteMatch['path'];
}

export interface CompiledRouteTable {
  match(method: string, url: string, headers: IncomingHttpHeaders): Matched | undefined;
  /** The balancer of a backend Service named in the table. */
  balancer(service: string): Balancer<Endpoint> | undefined;
}

/** Header values as one string, as the spec compares them (several lines joined by commas). */
const headerValue = (v: string | string[] | undefined): string | undefined => (Array.isArray(v) ? v.join(',') : v);

function valuePredicate(m: ValueMatch): (v: string | undefined) => boolean {
  if (m.type === 'Exact') return (v) => v === m.value;
  const re = compilePathRegex(m.value);
  return (v) => v !== undefined && re.test(v);
}

/** A PathPrefix matches whole path segments: `/foo` matches `/foo` and `/foo/bar`, not `/foobar`. */
export function prefixMatches(prefix: string, path: string): boolean {
  const p = prefix.length > 1 && prefix.endsWith('/') ? prefix.slice(0, -1) : prefix;
  if (p === '/' || p === '') return true;
  return path === p || path.startsWith(`${p}/`);
}

export function compileMatch(m: RouteMatch): Predicate {
  const parts: Predicate[] = [];
  if (m.grpc) parts.push((_m, _p, _q, h) => isGrpc(h));
  const path = m.path;
  if (path?.type === 'Exact') parts.push((_m, p) => p === path.value);
  else if (path?.type === 'PathPrefix') { if (path.value !== '/') parts.push((_m, p) => prefixMatches(path.value, p)); }
  else if (path?.type === 'RegularExpression') { const re = compilePathRegex(path.value); parts.push((_m, p) => re.test(p)); }
  if (m.method !== undefined) { const method = m.method.toUpperCase(); parts.push((x) => x === method); }
  for (const h of m.headers) { const ok = valuePredicate(h); const name = h.name.toLowerCase(); parts.push((_m, _p, _q, hs) => ok(headerValue(hs[name]))); }
  for (const q of m.queryParams) { const ok = valuePredicate(q); parts.push((_m, _p, qs) => ok(qs?.get(q.name) ?? undefined)); }
  return (method, p, q, h) => parts.every((x) => x(method, p, q, h));
}

function compileRule(r: RouteRule): CompiledRule {
  const of = <T extends RouteFilter['type']>(t: T) => r.filters.filter((f): f is Extract<RouteFilter, { type: T }> => f.type === t);
  const merge = (edits: HeaderEdit[]): HeaderEdit | undefined => (edits.length === 0 ? undefined : {
    set: edits.flatMap((e) => e.set), add: edits.flatMap((e) => e.add), remove: edits.flatMap((e) => e.remove),
  });
  const retry = r.retry && r.retry.attempts > 0 ? { statuses: new Set(r.retry.codes), maxAttempts: r.retry.attempts + 1, backoffMs: r.retry.backoffMs ?? 0 } : undefined;
  const route: CompiledRoute = {
    name: r.rule, matches: () => true, isFailure: () => undefined,
    isRetryable: retry !== undefined,
    // Each attempt gets backendRequest, and never more than the request's own timeout.
    timeoutMs: r.backendTimeoutMs ?? r.requestTimeoutMs,
    retryStatuses: retry?.statuses, maxAttempts: retry?.maxAttempts, backoffMs: retry?.backoffMs, requestTimeoutMs: r.requestTimeoutMs,
  };
  return {
    spec: r, label: r.rule, route, retry,
    requestEdit: merge(of('RequestHeaderModifier').map((f) => f.edit)),
    responseEdit: merge(of('ResponseHeaderModifier').map((f) => f.edit)),
    redirect: of('RequestRedirect')[0],
    rewrite: of('URLRewrite')[0],
    mirrors: of('RequestMirror'),
  };
}

/** Balancers are reused per backend Service across Updates (what they learned survives a weight change). */
export function compileRouteTable(t: RouteTable, previous: ReadonlyMap<string, Balancer<Endpoint>>, newBalancer: (service: string) => Balancer<Endpoint>): { table: CompiledRouteTable; balancers: Map<string, Balancer<Endpoint>> } {
  const balancers = new Map<string, Balancer<Endpoint>>();
  for (const b of t.backends) {
    const balancer = previous.get(b.service) ?? newBalancer(b.service);
    balancer.update(b.endpoints);
    balancers.set(b.service, balancer);
  }
  const rules = t.rules.map(compileRule);
  const matches = t.matches.flatMap((m) => {
    const rule = rules[m.rule];
    return rule ? [{ test: compileMatch(m.match), rule, path: m.match.path }] : [];
  });
  const needsQuery = t.matches.some((m) => m.match.queryParams.length > 0);
  return {
    balancers,
    table: {
      match(method, url, headers) {
        const path = pathOf(url);
        const query = needsQuery ? new URLSearchParams(url.slice(path.length + 1)) : undefined;
        for (const m of matches) if (m.test(method, path, query, headers)) return { rule: m.rule, path: m.path };
        return undefined;
      },
      balancer: (service) => balancers.get(service),
    },
  };
}

/**
 * The backend a request goes to, drawn by weight among those with a weight
 * above 0, whether or not they resolved: a share whose Service does not
 * exist is answered 500 by the caller (`service` undefined), as the spec asks.
 * Undefined when every weight is 0 (also a 500).
 */
export function drawRouteBackend(backends: RouteRule['backends'], random: () => number): RouteRule['backends'][number] | undefined {
  let total = 0;
  for (const b of backends) total += b.weight;
  if (total === 0) return undefined;
  let x = random() * total;
  for (const b of backends) {
    if (b.weight === 0) continue;
    if (x < b.weight) return b;
    x -= b.weight;
  }
  return backends.findLast((b) => b.weight > 0);
}

/** The path after a PathEdit, given the path match that chose the rule. */
export function editedPath(path: string, edit: PathEdit, matched: RouteMatch['path']): string {
  if (edit.type === 'ReplaceFullPath') return edit.value;
  const prefix = matched?.type === 'PathPrefix' ? matched.value.replace(/\/+$/, '') : '';
  const rest = path.slice(prefix.length);
  const base = edit.value.replace(/\/+$/, '');
  // "/foo" replaced by "/" on "/foo/bar" is "/bar", never "//bar"; on "/foo" itself, "/".
  if (rest === '') return base || '/';
  return `${base}${rest}`;
}

/** A URL's path replaced, its query kept. */
export function withPath(url: string, path: string): string {
  const q = url.indexOf('?');
  return q < 0 ? path : path + url.slice(q);
}

/** The Location of a RequestRedirect: what the filter names, the rest from the request. */
export function redirectLocation(f: Extract<RouteFilter, { type: 'RequestRedirect' }>, url: string, authority: string | undefined, matched: RouteMatch['path']): string {
  const scheme = f.scheme ?? 'http';
  const [reqHost = '', reqPort] = splitAuthority(authority ?? '');
  const host = f.hostname ?? reqHost;
  // The port: the filter's; else the scheme's default when the filter changes the scheme; else the request's.
  const port = f.port ?? (f.scheme !== undefined ? undefined : reqPort);
  const wellKnown = (scheme === 'http' && port === 80) || (scheme === 'https' && port === 443);
  const path = f.path ? editedPath(pathOf(url), f.path, matched) : pathOf(url);
  return `${scheme}://${host}${port === undefined || wellKnown ? '' : `:${port}`}${withPath(url, path)}`;
}

function splitAuthority(a: string): [string, number | undefined] {
  const m = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(a);
  if (!m) return [a, undefined];
  return [m[1] ?? '', m[2] === undefined ? undefined : Number(m[2])];
}

/** Applies a header edit to a Node-style header object (names lower case): set replaces, add appends, remove drops. */
export function editHeaders(headers: Record<string, string | string[] | number | undefined>, e: HeaderEdit): void {
  for (const h of e.set) headers[h.name] = h.value;
  for (const h of e.add) {
    const old = headers[h.name];
    headers[h.name] = old === undefined ? h.value : `${Array.isArray(old) ? old.join(',') : String(old)},${h.value}`;
  }
  for (const n of e.remove) delete headers[n];
}
