// A TrafficSplit compiled for one port of its root Service: each backend
// Service with its weight and its ready endpoints. Backends are matched to
// the root by the Service port the client called (SMI: backends expose the
// root's ports), then by that port's name; each backend then maps that
// Service port to its own pods' target port, so v1 on 8080 and v2 on 9090
// behind the same port 80 both come out right.
//
// A split with `matches` (v1alpha3+) applies only to requests that satisfy
// one of the matches of the HTTPRouteGroups it names; the others go to the
// root Service's own endpoints, as SMI says (Flagger's A/B testing relies on
// it). When a named group is missing, invalid or empty, the split does not
// apply at all: splitting every request instead would send users to a canary
// nobody meant them to see.
import type { V1Service, V1ServicePort } from '@kubernetes/client-node';
import type { SplitBackend, SplitMatch } from '../../api/discovery-protocol.ts';
import { TrafficSplitSpec, type TrafficSplitV1alpha4 } from '../../api/crds/trafficsplit.ts';
import { ANY_METHOD, parseHTTPRouteGroupSpec, type HTTPMatch } from '../../api/crds/httproutegroup.ts';
import { parseSpec, type Parsed } from '../../api/crds/problems.ts';
import type { ClusterView, PolicyObject } from '../discovery/cache.ts';
import { resolveService, type ResolveConfig } from '../discovery/resolve.ts';
import { HTTP_ROUTE_GROUP, olderFirst } from './objects.ts';

export type SplitConfig = ResolveConfig & { clusterDomain: string };

/** What an Update carries for a split: the backends and, when the split is restricted, the matches. */
export interface CompiledSplit { split: SplitBackend[]; splitMatches?: SplitMatch[] }

/** v1alpha4 weights are integers; anything else (never stored at v1alpha4) counts as 0. */
const weightOf = (w: unknown): number => (typeof w === 'number' && Number.isInteger(w) && w >= 0 ? w : 0);

const parsedSplits = new WeakMap<object, Parsed<TrafficSplitV1alpha4>>();

/** The spec read at v1alpha4, with the problems a user must fix; remembered per object. */
export function parseTrafficSplit(ts: PolicyObject): Parsed<TrafficSplitV1alpha4> {
  const cached = parsedSplits.get(ts);
  if (cached) return cached;
  let parsed = parseSpec(TrafficSplitSpec.v1alpha4, ts.spec);
  if (parsed.ok && parsed.spec.backends.every((b) => weightOf(b.weight) === 0)) {
    parsed = { ok: false, problems: ['spec.backends: every weight is 0, so no request could be sent anywhere; give at least one backend a weight above 0'] };
  }
  parsedSplits.set(ts, parsed);
  return parsed;
}

/** The backend's Service port for a call to the root's `port`: the same number, else the same name. */
export function backendPort(backend: V1Service, rootPort: V1ServicePort | undefined, port: number): number | undefined {
  const ports = (backend.spec?.ports ?? []).filter((p) => (p.protocol ?? 'TCP') === 'TCP');
  const same = ports.find((p) => p.port === port);
  if (same) return same.port;
  const named = rootPort?.name ? ports.find((p) => p.name === rootPort.name) : undefined;
  return named?.port;
}

/**
 * One backend Service with its share: its ready endpoints on the Service
 * port `portOf` picks. A missing Service (or port) stays in the split with
 * no endpoints, named at `fallbackPort`: the proxy skips it.
 */
export function splitBackend(view: ClusterView, namespace: string, name: string, weight: number, cfg: SplitConfig, portOf: (svc: V1Service) => number | undefined, fallbackPort: number): SplitBackend {
  const svc = view.service(namespace, name);
  const port = svc ? portOf(svc) : undefined;
  const endpoints = svc && port !== undefined ? resolveService(view, svc, port, cfg).endpoints : [];
  return { service: `${name}.${namespace}.svc.${cfg.clusterDomain}:${port ?? fallbackPort}`, weight, endpoints };
}

/** The matches a split's route groups stand for (undefined: no `matches`, split everything), or why they cannot be used. */
export type ResolvedMatches = { ok: true; matches: SplitMatch[] | undefined } | { ok: false; reason: string; message: string };

/** An HTTPRouteGroup match as the proxy reads it: `*` or no methods means any, header names lower case. */
export function toSplitMatch(m: HTTPMatch): SplitMatch {
  const methods = m.methods && m.methods.length > 0 && !m.methods.includes(ANY_METHOD) ? m.methods.map((x) => x.toUpperCase()) : undefined;
  return {
    ...(m.pathRegex !== undefined ? { pathRegex: m.pathRegex } : {}),
    ...(methods ? { methods } : {}),
    ...(m.headers ? { headers: Object.fromEntries(Object.entries(m.headers).map(([k, v]) => [k.toLowerCase(), v])) } : {}),
  };
}

/** A TrafficSplit's `matches` entry (v1alpha3+). */
export interface MatchRef { kind: string; name: string; apiGroup?: string | undefined }

/** The `matches` of a parsed split; the schema types them only in v1alpha3+. */
export const matchRefsOf = (spec: TrafficSplitV1alpha4): MatchRef[] | undefined => (spec as { matches?: MatchRef[] }).matches;

export function resolveSplitMatches(view: ClusterView, namespace: string, refs: readonly MatchRef[] | undefined): ResolvedMatches {
  if (!refs || refs.length === 0) return { ok: true, matches: undefined };
  const matches: SplitMatch[] = [];
  const problems: { reason: string; message: string }[] = [];
  refs.forEach((ref, i) => {
    const field = `spec.matches[${i}]`;
    if (ref.kind !== HTTP_ROUTE_GROUP.kind || (ref.apiGroup !== undefined && ref.apiGroup !== '' && ref.apiGroup !== HTTP_ROUTE_GROUP.group)) {
      problems.push({ reason: 'UnsupportedMatchKind', message: `${field} names a ${ref.apiGroup ? `${ref.apiGroup}/` : ''}${ref.kind}; only ${HTTP_ROUTE_GROUP.group} HTTPRouteGroup matches can restrict a split` });
      return;
    }
    const group = view.httpRouteGroup(namespace, ref.name);
    if (!group) {
      problems.push({ reason: 'RouteGroupNotFound', message: `HTTPRouteGroup ${namespace}/${ref.name} (${field}) does not exist; create it or fix ${field}.name` });
      return;
    }
    const parsed = parseHTTPRouteGroupSpec(group.spec);
    if (!parsed.ok) {
      problems.push({ reason: 'InvalidRouteGroup', message: `HTTPRouteGroup ${namespace}/${ref.name} is invalid (${parsed.problems.join('; ')})` });
      return;
    }
    const own = parsed.spec.matches ?? [];
    if (own.length === 0) {
      problems.push({ reason: 'NoRouteMatches', message: `HTTPRouteGroup ${namespace}/${ref.name} (${field}) has no matches; give it at least one under spec.matches` });
      return;
    }
    matches.push(...own.map(toSplitMatch));
  });
  const first = problems[0];
  if (!first) return { ok: true, matches };
  return { ok: false, reason: first.reason, message: `${problems.map((p) => p.message).join('; ')}; until then the split does not apply and every request goes to the root Service` };
}

/** The split of calls to `root:port`, from the oldest valid TrafficSplit naming it; undefined when there is none or its matches do not resolve. */
export function compileSplit(view: ClusterView, root: V1Service, port: number, cfg: SplitConfig): CompiledSplit | undefined {
  const namespace = root.metadata?.namespace ?? '';
  const name = root.metadata?.name ?? '';
  const split = view.trafficSplits(namespace, name)
    .filter((ts) => parseTrafficSplit(ts).ok)
    .sort(olderFirst)[0];
  if (!split) return undefined;
  const parsed = parseTrafficSplit(split);
  if (!parsed.ok) return undefined;
  const matches = resolveSplitMatches(view, namespace, matchRefsOf(parsed.spec));
  if (!matches.ok) return undefined;
  const rootPort = root.spec?.ports?.find((p) => p.port === port);
  const backends = parsed.spec.backends.map((b) => splitBackend(view, namespace, b.service, weightOf(b.weight), cfg, (svc) => backendPort(svc, rootPort, port), port));
  return { split: backends, ...(matches.matches ? { splitMatches: matches.matches } : {}) };
}
