// The balance layer (stack.ts): one endpoint of a destination for one
// request (P2C over its ready endpoints with their breakers, balancer.ts),
// skipping for a while the endpoints that refused a request unprocessed, or
// the error the request gets instead; then the request's attempts: sent by
// its carrier (the endpoint layer below), and again to another endpoint
// when retries.ts allows it, each retry paid from the destination's budget,
// with the route's response timeout.
import type { IncomingHttpHeaders } from 'node:http';
import type { Endpoint, Update } from '../../api/discovery-protocol.ts';
import type { Balancer, Pick as PickOf } from './balancer.ts';
import { hostPort } from './connection.ts';
import type { Destination } from './destinations.ts';
import { ProxyError } from './errors.ts';
import type { Outcome, RelayOptions } from './relay.ts';
import { replayableBody, RequestRetries, type RetryResult } from './retries.ts';
import { DEFAULT_ROUTE, isFailure, type CompiledRoute } from './routes.ts';
import type { Mirror } from './mirror.ts';
import type { RouteDecision } from './route.ts';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * A request as the balance layer sees it, whichever server read it: what
 * retries need to know, and how it is answered or sent to an endpoint.
 */
export interface Carrier {
  req: { method?: string | undefined; url?: string | undefined; headers: IncomingHttpHeaders };
  hasBody: boolean;
  readBody(): Promise<Buffer>;
  /** Answers with the proxy's own error. */
  fail(err: ProxyError): Outcome;
  /** Answers with a status and headers, no body (a route's redirect). */
  respond(status: number, headers: Record<string, string>): Outcome;
  /** One attempt to `chosen`; `chosen.begin()` is the carrier's to call once a connection is there. */
  forward(chosen: PickOf<Endpoint>, options: RelayOptions, retries: RequestRetries): Promise<Outcome>;
}

/** What one request's attempts need from the route decision. */
export interface Attempted extends Partial<Pick<RouteDecision, 'rewrite' | 'responseEdit' | 'mirrors'>> {
  destination: Destination;
  balancer: Balancer<Endpoint>;
  route: CompiledRoute | undefined;
  routeLabel: string | undefined;
}

export interface BalanceOptions {
  now?: () => number;
  /** Counts a retry decision (retry_total): per Service (or target) and route. */
  onRetry?: (service: string, route: string, result: RetryResult) => void;
  /** The response timeout of requests whose route sets none; absent: none. */
  responseTimeoutMs?: number;
  /** Sends a Gateway API rule's RequestMirror copies. */
  mirror?: Mirror;
}

/** The request failed, by the proxy's error or by its route's response classes. */
export const failed = (route: CompiledRoute | undefined, outcome: Outcome): boolean => outcome.error !== undefined || isFailure(route, outcome.status, outcome.grpcStatus);

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
  readonly #onRetry: NonNullable<BalanceOptions['onRetry']>;
  readonly #responseTimeoutMs: number | undefined;
  readonly #mirror: Mirror | undefined;
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

  constructor(o: BalanceOptions = {}) {
    this.#now = o.now ?? Date.now;
    this.#onRetry = o.onRetry ?? (() => {});
    this.#responseTimeoutMs = o.responseTimeoutMs;
    this.#mirror = o.mirror;
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
   * Sends the request to `first`, and again to another endpoint when
   * retries.ts allows it: a failure the app never saw (connect, TLS, the peer
   * proxy unable to reach its app) once on any route, a classified failure on
   * a retryable route, each retry paid from the destination's budget. Bodies
   * are buffered (≤ 64 KiB, declared length) only where a retry could need them.
   */
  async send(first: PickOf<Endpoint>, a: Attempted, c: Carrier): Promise<Outcome> {
    const { destination: d, route } = a;
    const replay = c.req.headers.expect === undefined ? replayableBody(c.req.headers, c.hasBody) : false;
    const retries = new RequestRetries(d.budget, route, replay !== false);
    // One options object per request, the same shape every time.
    const options: RelayOptions = {
      responseTimeoutMs: route?.timeoutMs ?? this.#responseTimeoutMs,
      body: replay === 'buffer' ? await c.readBody() : undefined,
      retry: retries,
      rewrite: a.rewrite,
      responseEdit: a.responseEdit,
    };
    if (a.mirrors) this.#mirror?.send(a.mirrors, { method: c.req.method ?? 'GET', url: c.req.url ?? '/', headers: c.req.headers, httpVersionMajor: (c.req as { httpVersionMajor?: number }).httpVersionMajor ?? 1 }, replay === 'none' ? undefined : replay === 'buffer' ? options.body : false);
    // A Gateway API rule's timeouts.request bounds every attempt together (to the response head).
    const deadline = route?.requestTimeoutMs === undefined ? undefined : this.#now() + route.requestTimeoutMs;
    d.budget.deposit();
    const service = d.service ?? d.target;
    const routeLabel = a.routeLabel ?? DEFAULT_ROUTE;
    let chosen = first;
    for (;;) {
      const outcome = await c.forward(chosen, options, retries);
      chosen.done({ ok: !failed(route, outcome) });
      if (retries.budgetExhausted) this.#onRetry(service, routeLabel, 'budget_exhausted');
      if (!outcome.retried || retries.cause === undefined) return outcome;
      if (retries.cause === 'not-sent') this.refused(chosen.endpoint);
      this.#onRetry(service, routeLabel, 'retried');
      if (route?.backoffMs) await sleep(route.backoffMs);
      if (deadline !== undefined) {
        const left = deadline - this.#now();
        if (left <= 0) return c.fail(new ProxyError('response_timeout', `no response within the route's request timeout of ${route?.requestTimeoutMs ?? 0} ms`));
        options.responseTimeoutMs = Math.min(options.responseTimeoutMs ?? left, left);
      }
      const next = this.choose(d, a.balancer, chosen.endpoint);
      if (next instanceof ProxyError) return c.fail(next);
      chosen = next;
      retries.next();
    }
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
