// The balance layer: one endpoint of a destination for one request (P2C over
// its ready endpoints, balancer.ts), skipping for a while the endpoints that
// refused a request unprocessed, or the error the request gets instead.
import type { Endpoint, Update } from '../../api/discovery-protocol.ts';
import type { Balancer, Pick as PickOf } from './balancer.ts';
import { hostPort } from './connection.ts';
import type { Destination } from './destinations.ts';
import { ProxyError } from './errors.ts';

/**
 * How long an endpoint that refused a request unprocessed (its pod's proxy
 * could not reach the app, or nothing accepted the connection) is skipped by
 * new picks. A pod whose app has exited stays listed until the EndpointSlice
 * change reaches this proxy; during a scale-down several can refuse at once,
 * and without this each request could meet all of them (issue #7).
 */
export const REFUSING_MS = 2_000;

export class BalanceLayer {
  readonly #now: () => number;
  /** Endpoint address → until when it is skipped. */
  readonly #refusing = new Map<string, number>();
  /** The latest expiry in `refusing` (every entry lasts REFUSING_MS, so the newest one's). */
  #refusingUntil = 0;
  readonly #isRefusing = (e: Endpoint): boolean => {
    const key = hostPort(e.ip, e.port);
    const until = this.#refusing.get(key);
    if (until === undefined) return false;
    if (this.#now() < until) return true;
    this.#refusing.delete(key);
    return false;
  };

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  /** A balanced endpoint for one request, or the error the request gets instead. */
  choose(d: Pick<Destination, 'update' | 'balancer' | 'target'>, balancer: Balancer<Endpoint> = d.balancer, avoid?: Endpoint): PickOf<Endpoint> | ProxyError {
    const u = d.update;
    if (!u?.exists) return new ProxyError('no_endpoint', `discovery knows nothing at ${d.target}`);
    const pick = balancer.pick(avoid, this.#skip());
    return pick ?? new ProxyError('no_ready_endpoint', `${serviceName(u) ?? d.target} has no ready endpoint`);
  }

  /** The endpoint refused a request unprocessed: new picks avoid it for REFUSING_MS. */
  refused(e: Endpoint): void {
    const now = this.#now();
    // Endpoints that left discovery are never looked up again: sweep so the map stays small.
    if (this.#refusing.size > 256) for (const [k, until] of this.#refusing) if (until <= now) this.#refusing.delete(k);
    this.#refusing.set(hostPort(e.ip, e.port), now + REFUSING_MS);
    this.#refusingUntil = now + REFUSING_MS;
  }

  /**
   * The skip predicate for picks, only while some entry can still be live: an
   * entry of an endpoint that left discovery would otherwise keep every pick
   * on the balancer's slow path (and a string built per endpoint) for good.
   */
  #skip(): ((e: Endpoint) => boolean) | undefined {
    if (this.#refusing.size === 0) return undefined;
    if (this.#now() >= this.#refusingUntil) { this.#refusing.clear(); return undefined; }
    return this.#isRefusing;
  }
}

export function serviceName(u: Update): string | undefined {
  return u.service ? `${u.service.name}.${u.service.namespace}:${u.service.port}` : undefined;
}
