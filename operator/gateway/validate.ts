// Whether Skein can route by an HTTPRoute or GRPCRoute at all, and if not,
// what the user must change (pure). The API server has checked the CRD's own
// schema; what is left is what Skein's proxy cannot do safely: a regular
// expression that does not compile as the proxy's engine reads it or that
// could backtrack without bound (api/crds/path-regex.ts, the same rule as
// ServiceProfile paths: no nested quantifiers, no backreferences), a filter
// Skein does not implement, a duration it cannot read. An invalid route is
// not used; the version before it keeps routing (ClusterCache).
import { parseRouteSpec, type AnyRouteSpec, type RouteFilter, type RouteKind } from '../../api/crds/gateway-route.ts';
import { pathRegexProblem } from '../../api/crds/path-regex.ts';
import { parseDurationMs } from '../../api/duration.ts';
import type { PolicyObject } from '../discovery/cache.ts';

/** Filters the proxy applies (route.ts, gateway-routes.ts). CORS, ExternalAuth and ExtensionRef are not among them. */
export const SUPPORTED_FILTERS = new Set(['RequestHeaderModifier', 'ResponseHeaderModifier', 'RequestRedirect', 'URLRewrite', 'RequestMirror']);

export type RouteValidity = { ok: true; route: AnyRouteSpec } | { ok: false; problems: string[] };

const parsedRoutes = new WeakMap<object, RouteValidity>();

/** The route read and checked; remembered per object (the cache and the status reconciler both ask). */
export function validateRoute(kind: RouteKind, obj: PolicyObject): RouteValidity {
  const cached = parsedRoutes.get(obj);
  if (cached) return cached;
  const parsed = parseRouteSpec(kind, obj.spec);
  const result: RouteValidity = parsed.ok ? problemsOf(parsed.spec) : parsed;
  parsedRoutes.set(obj, result);
  return result;
}

export const isUsableRoute = (kind: RouteKind, obj: PolicyObject): boolean => validateRoute(kind, obj).ok;

function problemsOf(route: AnyRouteSpec): RouteValidity {
  const problems: string[] = [];
  const regex = (field: string, source: string) => {
    const p = pathRegexProblem(source);
    if (p) problems.push(`${field} ${JSON.stringify(source.slice(0, 80))}: ${p}`);
  };
  const duration = (field: string, text: string | undefined) => {
    if (text !== undefined && parseDurationMs(text) === undefined) problems.push(`${field} ${JSON.stringify(text)} is not a duration such as 10s or 500ms`);
  };
  const filters = (field: string, list: readonly RouteFilter[] | undefined) => list?.forEach((f, k) => {
    if (!SUPPORTED_FILTERS.has(f.type)) problems.push(`${field}[${k}].type ${f.type} is not supported by Skein (it supports ${[...SUPPORTED_FILTERS].join(', ')}); remove the filter`);
  });
  route.spec.rules.forEach((rule, i) => {
    const at = `spec.rules[${i}]`;
    filters(`${at}.filters`, rule.filters);
    rule.backendRefs?.forEach((b, j) => {
      if (b.filters && b.filters.length > 0) problems.push(`${at}.backendRefs[${j}].filters: per-backend filters are not supported by Skein; move them to ${at}.filters`);
    });
    if ('sessionPersistence' in rule && rule.sessionPersistence !== undefined) problems.push(`${at}.sessionPersistence is not supported by Skein; remove it`);
    if (route.kind === 'HTTPRoute') {
      const r = route.spec.rules[i]!;
      r.matches?.forEach((m, j) => {
        if (m.path?.type === 'RegularExpression') regex(`${at}.matches[${j}].path.value`, m.path.value);
        m.headers?.forEach((h, k) => { if (h.type === 'RegularExpression') regex(`${at}.matches[${j}].headers[${k}].value`, h.value); });
        m.queryParams?.forEach((q, k) => { if (q.type === 'RegularExpression') regex(`${at}.matches[${j}].queryParams[${k}].value`, q.value); });
      });
      duration(`${at}.timeouts.request`, r.timeouts?.request);
      duration(`${at}.timeouts.backendRequest`, r.timeouts?.backendRequest);
      duration(`${at}.retry.backoff`, r.retry?.backoff);
    } else {
      route.spec.rules[i]!.matches?.forEach((m, j) => {
        if (m.method?.type === 'RegularExpression') {
          if (m.method.service !== undefined) regex(`${at}.matches[${j}].method.service`, m.method.service);
          if (m.method.method !== undefined) regex(`${at}.matches[${j}].method.method`, m.method.method);
        }
        m.headers?.forEach((h, k) => { if (h.type === 'RegularExpression') regex(`${at}.matches[${j}].headers[${k}].value`, h.value); });
      });
    }
  });
  return problems.length === 0 ? { ok: true, route } : { ok: false, problems };
}
