// ServiceProfile routes as the proxy runs them: compiled once per discovery
// Update into plain predicate functions (regexes built once, anchored to the
// whole path as Linkerd does), then matched per request (first route wins)
// and used to classify the response (the route's responseClasses first, then
// 5xx / non-OK grpc-status). Pure; no I/O.
import type { Profile, RequestMatch, ResponseMatch, Route } from '../../api/discovery-protocol.ts';
import { compilePathRegex } from '../../api/crds/path-regex.ts';

/** The `route` label of requests no profile route matched (Linkerd's name for it). */
export const DEFAULT_ROUTE = '[default]';

type RequestPredicate = (method: string, path: string) => boolean;
type ResponsePredicate = (status: number) => boolean;

export interface CompiledRoute {
  readonly name: string;
  readonly matches: RequestPredicate;
  /** From the first response class whose condition matches the status; undefined when none does. */
  readonly isFailure: (status: number) => boolean | undefined;
  readonly isRetryable: boolean;
  readonly timeoutMs: number | undefined;
  /** A Gateway API rule's retry: only these statuses (and connection failures) are retried, up to maxAttempts in all. */
  readonly retryStatuses?: ReadonlySet<number> | undefined;
  readonly maxAttempts?: number | undefined;
  /** Waited before each retry. */
  readonly backoffMs?: number | undefined;
  /** A Gateway API rule's timeouts.request: the whole request, retries included (to the response head). */
  readonly requestTimeoutMs?: number | undefined;
}

export interface RetryBudgetSpec { retryRatio: number; minRetriesPerSecond: number; ttlMs: number }

export interface CompiledProfile {
  readonly name: string;
  readonly routes: readonly CompiledRoute[];
  readonly retryBudget: RetryBudgetSpec;
}

const always = (): boolean => true;

export function compileRequestMatch(m: RequestMatch): RequestPredicate {
  const parts: RequestPredicate[] = [];
  if (m.method !== undefined) {
    const method = m.method.toUpperCase();
    parts.push((requestMethod) => requestMethod === method);
  }
  if (m.pathRegex !== undefined) {
    const re = compilePathRegex(m.pathRegex);
    parts.push((_, path) => re.test(path));
  }
  if (m.all) {
    const all = m.all.map(compileRequestMatch);
    parts.push((method, path) => all.every((p) => p(method, path)));
  }
  if (m.any) {
    const any = m.any.map(compileRequestMatch);
    parts.push((method, path) => any.some((p) => p(method, path)));
  }
  if (m.not) {
    // A list under `not` negates their conjunction, as Linkerd reads it.
    const inner = Array.isArray(m.not) ? m.not.map(compileRequestMatch) : [compileRequestMatch(m.not)];
    parts.push((method, path) => !inner.every((p) => p(method, path)));
  }
  return conjunction(parts);
}

export function compileResponseMatch(m: ResponseMatch): ResponsePredicate {
  const parts: ResponsePredicate[] = [];
  if (m.status) {
    const min = m.status.min ?? 100;
    const max = m.status.max ?? 599;
    parts.push((s) => s >= min && s <= max);
  }
  if (m.all) {
    const all = m.all.map(compileResponseMatch);
    parts.push((s) => all.every((p) => p(s)));
  }
  if (m.any) {
    const any = m.any.map(compileResponseMatch);
    parts.push((s) => any.some((p) => p(s)));
  }
  if (m.not) {
    const inner = Array.isArray(m.not) ? m.not.map(compileResponseMatch) : [compileResponseMatch(m.not)];
    parts.push((s) => !inner.every((p) => p(s)));
  }
  return conjunction(parts);
}

function conjunction<F extends (...args: never[]) => boolean>(parts: F[]): F {
  if (parts.length === 0) return always as unknown as F;
  if (parts.length === 1) return parts[0] as F;
  return ((...args: Parameters<F>) => parts.every((p) => p(...args))) as F;
}

export function compileRoute(r: Route): CompiledRoute {
  const classes = r.responseClasses.map((c) => ({ matches: compileResponseMatch(c.condition), isFailure: c.isFailure }));
  return {
    name: r.name,
    matches: compileRequestMatch(r.condition),
    isFailure: (status) => classes.find((c) => c.matches(status))?.isFailure,
    isRetryable: r.isRetryable,
    timeoutMs: r.timeoutMs,
  };
}

export function compileProfile(p: Profile): CompiledProfile {
  return { name: p.name, routes: p.routes.map(compileRoute), retryBudget: p.retryBudget };
}

/** The path a route matches: the request target without its query string. */
export function pathOf(url: string): string {
  const q = url.indexOf('?');
  return q < 0 ? url : url.slice(0, q);
}

/** The first route matching the request, as Linkerd picks one; undefined means the default route. */
export function matchRoute(profile: CompiledProfile | undefined, method: string, url: string): CompiledRoute | undefined {
  if (!profile || profile.routes.length === 0) return undefined;
  const path = pathOf(url);
  for (const r of profile.routes) if (r.matches(method, path)) return r;
  return undefined;
}

/** Whether a response counts as failed: the route's response classes decide, else 5xx, or a gRPC status other than OK. */
export function isFailure(route: CompiledRoute | undefined, status: number, grpcStatus: number | undefined): boolean {
  const byClass = route?.isFailure(status);
  if (byClass !== undefined) return byClass;
  if (grpcStatus !== undefined) return grpcStatus !== 0;
  return status >= 500;
}
