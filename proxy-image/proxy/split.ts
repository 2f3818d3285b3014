// TrafficSplit per request: a backend is drawn by weight among those that
// can take the request (weight > 0 and at least one endpoint), then the
// backend's own balancer picks the endpoint. Balancers are kept per backend
// Service across Updates, so latency estimates and breakers survive a
// weight change (a canary shift must not reset what was learned).
import type { Endpoint, SplitBackend } from '../../shared/discovery-protocol.ts';
import type { Balancer } from './balancer.ts';

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
