// TrafficSplit per request: a backend is drawn by weight among those that
// can take the request (weight > 0 and at least one endpoint), then the
// backend's own balancer picks the endpoint. Balancers are kept per backend
// Service across Updates, so latency estimates and breakers survive a
// weight change (a canary shift must not reset what was learned).
//
// A split with HTTPRouteGroup matches applies only to the requests that
// satisfy one of them (the others stay on the root Service's endpoints); the
// matches are compiled once per Update into one predicate.
import type { IncomingHttpHeaders } from 'node:http';
import type { Endpoint, SplitBackend, SplitMatch } from '../../api/discovery-protocol.ts';
import { compilePathRegex } from '../../api/crds/path-regex.ts';
import type { Balancer } from './balancer.ts';
import { pathOf } from './routes.ts';

/** Whether a request is split: its method, its target (path and query) and its headers. */
export type SplitPredicate = (method: string, url: string, headers: IncomingHttpHeaders) => boolean;

const everyRequest: SplitPredicate = () => true;

function compileMatch(m: SplitMatch): (method: string, path: string, headers: IncomingHttpHeaders) => boolean {
  const methods = m.methods ? new Set(m.methods.map((x) => x.toUpperCase())) : undefined;
  const path = m.pathRegex === undefined ? undefined : compilePathRegex(m.pathRegex);
  // Anchored like paths: the whole value must match (SMI's own example writes ".*Firefox.*").
  const headers = Object.entries(m.headers ?? {}).map(([name, re]) => [name.toLowerCase(), compilePathRegex(re)] as const);
  return (method, p, h) => {
    if (methods && !methods.has(method)) return false;
    if (path && !path.test(p)) return false;
    for (const [name, re] of headers) {
      const v = h[name];
      // An absent header satisfies no regex, not even one that matches the empty string.
      if (v === undefined || !re.test(Array.isArray(v) ? v.join(', ') : v)) return false;
    }
    return true;
  };
}

/** One predicate for an Update's splitMatches: absent means every request is split, else any match will do. */
export function compileSplitMatches(matches: readonly SplitMatch[] | undefined): SplitPredicate {
  if (matches === undefined) return everyRequest;
  const compiled = matches.map(compileMatch);
  return (method, url, headers) => {
    const path = pathOf(url);
    return compiled.some((m) => m(method, path, headers));
  };
}

export interface Backend {
  /** `name.namespace.svc.<domain>:port`, the dst_service label. */
  readonly service: string;
  readonly weight: number;
  readonly balancer: Balancer<Endpoint>;
}

/** Index of the backend drawn by weight, skipping zero weights and empty backends; -1 when none can serve. */
export function drawBackend(backends: readonly { weight: number; balancer: { size: number } }[], random: () => number): number {
  let total = 0;
  for (const b of backends) if (b.weight > 0 && b.balancer.size > 0) total += b.weight;
  if (total === 0) return -1;
  let x = random() * total;
  let last = -1;
  for (let i = 0; i < backends.length; i++) {
    const b = backends[i]!;
    if (b.weight <= 0 || b.balancer.size === 0) continue;
    last = i;
    if (x < b.weight) return i;
    x -= b.weight;
  }
  return last;
}

/** The backends of one split, their balancers reused by Service from the previous set. */
export function applySplit(previous: readonly Backend[], split: readonly SplitBackend[], newBalancer: (service: string) => Balancer<Endpoint>): Backend[] {
  const byService = new Map(previous.map((b) => [b.service, b.balancer]));
  return split.map((s) => {
    const balancer = byService.get(s.service) ?? newBalancer(s.service);
    balancer.update(s.endpoints);
    return { service: s.service, weight: s.weight, balancer };
  });
}
