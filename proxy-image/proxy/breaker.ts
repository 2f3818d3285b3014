// Circuit breaking by consecutive failures (Linkerd's failure accrual,
// linkerd-facts §8.4): an endpoint failing `maxFailures` times in a row is
// ejected for a penalty that doubles with each ejection (jittered, 1 s to
// 60 s); once it is over, one probe request is let through (half-open): a
// success closes the breaker, a failure ejects it again for longer. The
// balancer never ejects the last endpoint it could still send to: a
// degraded answer beats none. State and transitions only; the balancer
// (balancer.ts) owns when they run.

export interface BreakerOptions {
  maxFailures?: number;
  minPenaltyMs?: number;
  maxPenaltyMs?: number;
  /** The penalty is stretched by up to this fraction, at random, so ejected endpoints do not all return at once. */
  jitterRatio?: number;
}

export const DEFAULT_BREAKER: Required<BreakerOptions> = { maxFailures: 7, minPenaltyMs: 1_000, maxPenaltyMs: 60_000, jitterRatio: 0.5 };

export interface BreakerState {
  /** Consecutive failures while closed. */
  failures: number;
  /** Ejections since the last success; sets the next penalty. */
  ejections: number;
  /** 0 while closed; else when the penalty ends (then one probe may go). */
  ejectedUntil: number;
  /** The one probe request is in flight. */
  probing: boolean;
}

export const closedBreaker = (): BreakerState => ({ failures: 0, ejections: 0, ejectedUntil: 0, probing: false });

/** Whether the endpoint may take a request now: closed, or its penalty is over and no probe is out. */
export function admits(s: Readonly<BreakerState>, now: number): boolean {
  return s.ejectedUntil === 0 || (now >= s.ejectedUntil && !s.probing);
}

/** Call when a request is sent to the endpoint: past its penalty, that request is the probe. */
export function sent(s: BreakerState, now: number): void {
  if (s.ejectedUntil !== 0 && now >= s.ejectedUntil) s.probing = true;
}

export function penaltyMs(ejections: number, o: Required<BreakerOptions>, random: () => number): number {
  const base = Math.min(o.maxPenaltyMs, o.minPenaltyMs * 2 ** Math.min(ejections, 30));
  return Math.min(o.maxPenaltyMs, base * (1 + o.jitterRatio * random()));
}

/**
 * Folds one result in. `canEject` is false when this is the last endpoint
 * still admitting requests. Returns true when this result ejected it.
 */
export function record(s: BreakerState, ok: boolean, now: number, canEject: boolean, o: Required<BreakerOptions>, random: () => number): boolean {
  if (ok) {
    s.failures = 0;
    s.ejections = 0;
    s.ejectedUntil = 0;
    s.probing = false;
    return false;
  }
  const probeFailed = s.probing;
  s.probing = false;
  s.failures += 1;
  if (!probeFailed && (s.ejectedUntil !== 0 || s.failures < o.maxFailures)) return false;
  if (!canEject) {
    // Kept in service as the last one; it trips again on its next failure once another returns.
    s.ejectedUntil = 0;
    return false;
  }
  s.ejectedUntil = now + penaltyMs(s.ejections, o, random);
  s.ejections += 1;
  return true;
}
