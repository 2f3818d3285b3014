// Retry policy: a budget per destination (Linkerd's ServiceProfile
// semantics: over the last `ttl`, retries may be at most `retryRatio` of the
// requests plus `minRetriesPerSecond` × ttl, so a failing backend sees at
// most ~1.2× the load, never a retry storm) and the rules for when a request
// may be tried again at all. Pure apart from the injected clock.
import type { IncomingHttpHeaders } from 'node:http';
import { PROXY_ERROR } from './headers.ts';
import { isFailure, type CompiledRoute, type RetryBudgetSpec } from './routes.ts';

/** Linkerd never retries a request whose body is larger than this: it is the most it buffers. */
export const MAX_RETRY_BODY_BYTES = 64 * 1024;
/** Attempts per request, the first included: a retry goes to another endpoint, and a third gives up. */
export const MAX_ATTEMPTS = 3;
/** Linkerd's ServiceProfile defaults, used for connection-failure retries on a destination without a profile. */
export const DEFAULT_RETRY_BUDGET: RetryBudgetSpec = { retryRatio: 0.2, minRetriesPerSecond: 10, ttlMs: 10_000 };

/** The window is kept in this many slices; a slice older than ttl is forgotten whole. */
const SLICES = 10;

export class RetryBudget {
  readonly spec: RetryBudgetSpec;
  readonly #now: () => number;
  readonly #sliceMs: number;
  readonly #requests = new Float64Array(SLICES);
  readonly #retries = new Float64Array(SLICES);
  #slice = 0;
  #sliceStart = 0;

  constructor(spec: RetryBudgetSpec, now: () => number = Date.now) {
    this.spec = spec;
    this.#now = now;
    this.#sliceMs = spec.ttlMs / SLICES;
    this.#sliceStart = now();
  }

  /** Counts one original request (a deposit). */
  deposit(): void {
    this.#advance();
    this.#requests[this.#slice]! += 1;
  }

  /** Takes one retry from the budget; false when it is spent. */
  withdraw(): boolean {
    this.#advance();
    let requests = 0;
    let retries = 0;
    for (let i = 0; i < SLICES; i++) { requests += this.#requests[i]!; retries += this.#retries[i]!; }
    const allowed = this.spec.minRetriesPerSecond * (this.spec.ttlMs / 1000) + this.spec.retryRatio * requests;
    if (retries + 1 > allowed) return false;
    this.#retries[this.#slice]! += 1;
    return true;
  }

  #advance(): void {
    const t = this.#now();
    const steps = Math.floor((t - this.#sliceStart) / this.#sliceMs);
    if (steps <= 0) return;
    for (let i = 0; i < Math.min(steps, SLICES); i++) {
      this.#slice = (this.#slice + 1) % SLICES;
      this.#requests[this.#slice] = 0;
      this.#retries[this.#slice] = 0;
    }
    this.#sliceStart += steps * this.#sliceMs;
  }
}

/**
 * Whether the request's body can be replayed: none at all, or a declared
 * length small enough to buffer. Streams of unknown length are not buffered.
 */
export function replayableBody(headers: { 'content-length'?: string | undefined; 'transfer-encoding'?: string | undefined }, hasBody: boolean): 'none' | 'buffer' | false {
  if (!hasBody) return 'none';
  if (headers['transfer-encoding'] !== undefined) return false;
  const length = Number(headers['content-length']);
  return Number.isInteger(length) && length >= 0 && length <= MAX_RETRY_BODY_BYTES ? 'buffer' : false;
}

/** Why an attempt failed in a way a retry may fix. */
export type RetryCause =
  /** Nothing reached the app: connect refused, TLS failure, or the peer proxy could not reach its app. Always safe. */
  | 'not-sent'
  /** The response was classified a failure (or the exchange broke after sending): only on a retryable route. */
  | 'failed';

/** The retry_total `result` label values. */
export type RetryResult = 'retried' | 'budget_exhausted' | 'attempts_exhausted';

/**
 * Attempts for a request no app processed. A scale-down can leave several
 * listed endpoints whose apps have exited; each refusal makes the caller skip
 * that endpoint (balance.ts), so one more attempt per dying endpoint is
 * what it takes, and costs no app any work.
 */
export const MAX_UNSENT_ATTEMPTS = 5;

/**
 * Whether another attempt is allowed for this cause. A request the app never
 * saw may be tried again whatever its method, up to MAX_UNSENT_ATTEMPTS:
 * nothing was processed. Anything else only on a route marked isRetryable
 * (the profile author's word that the route is idempotent), up to MAX_ATTEMPTS.
 */
export function mayRetry(cause: RetryCause, attempt: number, routeRetryable: boolean, maxAttempts = MAX_ATTEMPTS): boolean {
  if (cause === 'not-sent') return attempt < MAX_UNSENT_ATTEMPTS;
  return attempt < maxAttempts && routeRetryable;
}

/** The peer proxy's own errors that mean its app never saw the request (skein-proxy-error on the response). */
export function peerNotSent(proxyErrorHeader: string | string[] | undefined): boolean {
  return proxyErrorHeader === 'connect_failed' || proxyErrorHeader === 'connect_timeout';
}

/** What a request's retries draw from: its destination's budget. */
export interface RetryBudgetAccount { withdraw(): boolean }

/**
 * One request's retry decisions across its attempts, as one object made once
 * per request (no closures per attempt): the relay asks `shouldRetry` before
 * a response head or an error reaches the client, `forward` asks `unsent`
 * when the connection failed before the request left. `cause` says why the
 * last attempt was kept from the client; `budgetExhausted` that a retry was
 * refused by the budget (the caller counts it).
 */
export class RequestRetries {
  attempt = 1;
  cause: RetryCause | undefined;
  budgetExhausted = false;
  readonly #budget: RetryBudgetAccount;
  readonly #route: CompiledRoute | undefined;
  readonly #retryable: boolean;
  readonly #canReplay: boolean;

  constructor(budget: RetryBudgetAccount, route: CompiledRoute | undefined, canReplay: boolean) {
    this.#budget = budget;
    this.#route = route;
    this.#retryable = route?.isRetryable ?? false;
    this.#canReplay = canReplay;
  }

  shouldRetry(status: number, headers: IncomingHttpHeaders | undefined, err: unknown): boolean {
    const notSent = err === undefined ? peerNotSent(headers?.[PROXY_ERROR]) : false;
    const c: RetryCause | undefined = notSent ? 'not-sent' : err !== undefined || this.#failed(status, headers) ? 'failed' : undefined;
    if (c === undefined || !this.#canReplay || !mayRetry(c, this.attempt, this.#retryable, this.#route?.maxAttempts)) return false;
    if (!this.#budget.withdraw()) { this.budgetExhausted = true; return false; }
    this.cause = c;
    return true;
  }

  /** Nothing left this proxy: the request is intact whatever its body, so it may go elsewhere. */
  unsent(): boolean {
    if (!mayRetry('not-sent', this.attempt, this.#retryable) || !this.#budget.withdraw()) return false;
    this.cause = 'not-sent';
    return true;
  }

  /** A Gateway API rule retries only the statuses it lists; a profile route, what its classes call failures. */
  #failed(status: number, headers: IncomingHttpHeaders | undefined): boolean {
    const statuses = this.#route?.retryStatuses;
    return statuses ? statuses.has(status) : isFailure(this.#route, status, grpcStatusOf(headers));
  }

  /** Starts the next attempt. */
  next(): void {
    this.attempt += 1;
    this.cause = undefined;
    this.budgetExhausted = false;
  }
}

function grpcStatusOf(headers: IncomingHttpHeaders | undefined): number | undefined {
  const v = headers?.['grpc-status'];
  return typeof v === 'string' ? Number(v) : undefined;
}
