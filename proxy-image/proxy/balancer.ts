// Power of two choices over peak-EWMA latency (Finagle, tower, Linkerd): pick
// two distinct endpoints at random and send to the cheaper, where cost is the
// endpoint's latency estimate times its outstanding requests plus one. Random
// pairs avoid the herd that "always the fastest" causes; the pending factor
// reacts to a slow endpoint before its responses arrive. Endpoints whose
// circuit breaker (breaker.ts) is open are skipped.
//
// Failures are timed like successes by default, as Linkerd does: P2C always
// sends to the cheaper of its pair, so any latency penalty for a failure
// starves the endpoint after its first one, the breaker never sees the
// consecutive failures it needs, and the endpoint comes back only when the
// penalty has decayed (about a minute) instead of after the breaker's backoff
// and probe. Failing endpoints are the breaker's job; `failurePenaltyMs` is
// Linkerd's opt-in load biaser, for answers that fail fast under overload.
import { DEFAULT_BREAKER, admits, closedBreaker, record, sent, type BreakerOptions, type BreakerState } from './breaker.ts';

export interface Pick<E> {
  readonly endpoint: E;
  /**
   * Restarts the clock: the latency sample is taken from here, e.g. once the
   * connection to the endpoint is ready, so a first mTLS handshake does not
   * make a new endpoint look slow for a whole decay period.
   */
  begin(): void;
  /** Call once, when the response head (or the failure) is known. Later calls are ignored. */
  done(outcome: { ok: boolean }): void;
}

export interface Balancer<E> {
  /** Replace the endpoint set; endpoints that remain (by key) keep their latency and pending counts. */
  update(endpoints: readonly E[]): void;
  /**
   * undefined when there is no endpoint. `avoid` (a retry's previous
   * endpoint) is skipped unless it is the only one left; so are the
   * endpoints `skip` names (ones that just refused a request), unless no
   * other is left.
   */
  pick(avoid?: E, skip?: (e: E) => boolean): Pick<E> | undefined;
  readonly size: number;
}

export interface BalancerOptions<E = unknown> {
  /** Time constant of the moving average; also how fast an idle estimate decays toward 0. */
  decayMs?: number;
  /** The estimate a new endpoint starts with, so it is neither shunned nor flooded. */
  defaultRttMs?: number;
  /** A failed request counts as at least this slow (opt-in; 0 by default, see above). */
  failurePenaltyMs?: number;
  random?: () => number;
  now?: () => number;
  /** Circuit breaking per endpoint; Linkerd's consecutive-failure defaults when omitted. */
  breaker?: BreakerOptions;
  /** Told when an endpoint is ejected (metrics). */
  onEject?: (e: E) => void;
}

// Linkerd's defaults (linkerd-facts §8.1); its load biaser (penalty 5 s) is off unless asked for.
export const DEFAULT_DECAY_MS = 10_000;
export const DEFAULT_RTT_MS = 30;
export const DEFAULT_FAILURE_PENALTY_MS = 0;

/** Mutable per-endpoint state; a Pick holds it, so dropping it from the balancer makes a late done() harmless. */
export interface PeakEwma {
  rttMs: number;
  updatedAt: number;
  pending: number;
}

/** The estimate at `now` without a new sample: it decays toward 0, so a penalised endpoint is retried eventually. */
export function decayed(s: Readonly<PeakEwma>, now: number, decayMs: number): number {
  const elapsed = Math.max(0, now - s.updatedAt);
  return s.rttMs * Math.exp(-elapsed / decayMs);
}

/** Folds a sample in: a slower sample replaces the estimate at once ("peak"), a faster one is averaged in by elapsed time. */
export function observe(s: PeakEwma, rttMs: number, now: number, decayMs: number): void {
  if (rttMs > s.rttMs) {
    s.rttMs = rttMs;
  } else {
    const w = Math.exp(-Math.max(0, now - s.updatedAt) / decayMs);
    s.rttMs = s.rttMs * w + rttMs * (1 - w);
  }
  s.updatedAt = now;
}

export function cost(s: Readonly<PeakEwma>, now: number, decayMs: number, defaultRttMs: number): number {
  const rtt = decayed(s, now, decayMs);
  // An estimate decayed to ~0 must still count its pending requests.
  return (rtt > 0 ? rtt : defaultRttMs) * (s.pending + 1);
}

/** Two distinct indices in [0, n) from two draws; n >= 2. */
export function twoDistinct(n: number, random: () => number): [number, number] {
  const a = Math.min(n - 1, Math.floor(random() * n));
  let b = Math.min(n - 2, Math.floor(random() * (n - 1)));
  if (b >= a) b += 1;
  return [a, b];
}

interface Slot<E> { endpoint: E; state: PeakEwma; breaker: BreakerState }

export function p2cPeakEwma<E>(key: (e: E) => string, opts: BalancerOptions<E> = {}): Balancer<E> {
  const decayMs = opts.decayMs ?? DEFAULT_DECAY_MS;
  const defaultRttMs = opts.defaultRttMs ?? DEFAULT_RTT_MS;
  const penaltyMs = opts.failurePenaltyMs ?? DEFAULT_FAILURE_PENALTY_MS;
  const random = opts.random ?? Math.random;
  const now = opts.now ?? performance.now.bind(performance);
  const breakerOptions = { ...DEFAULT_BREAKER, ...opts.breaker };
  const onEject = opts.onEject;
  let slots: Slot<E>[] = [];
  /** Slots with an open or half-open breaker: while 0, pick() takes the plain P2C path. */
  let tripped = 0;

  const countTripped = (): number => slots.filter((s) => s.breaker.ejectedUntil !== 0).length;

  /** Another slot than `slot` still takes requests: only then may `slot` be ejected. */
  function othersAdmit(slot: Slot<E>, t: number): boolean {
    for (const s of slots) if (s.breaker !== slot.breaker && admits(s.breaker, t)) return true;
    return false;
  }

  function settle(slot: Slot<E>, ok: boolean, t: number): void {
    const b = slot.breaker;
    if (ok && b.failures === 0 && b.ejectedUntil === 0) return;
    const wasTripped = b.ejectedUntil !== 0;
    const ejected = record(b, ok, t, !ok && othersAdmit(slot, t), breakerOptions, random);
    // Recounted on a transition only (rare); the Pick's slot may predate an update.
    if (wasTripped !== (b.ejectedUntil !== 0)) tripped = countTripped();
    if (ejected && onEject) onEject(slot.endpoint);
  }

  function start(slot: Slot<E>): Pick<E> {
    const { state } = slot;
    let startedAt = now();
    if (tripped > 0) sent(slot.breaker, startedAt);
    state.pending += 1;
    let finished = false;
    return {
      endpoint: slot.endpoint,
      begin() {
        if (!finished) startedAt = now();
      },
      done({ ok }) {
        if (finished) return;
        finished = true;
        state.pending -= 1;
        const t = now();
        const rtt = t - startedAt;
        observe(state, ok ? rtt : Math.max(rtt, penaltyMs), t, decayMs);
        settle(slot, ok, t);
      },
    };
  }

  /** The slow path: only admitted endpoints, `avoid` and `skip` last. */
  function pickAmong(avoid: E | undefined, skip: ((e: E) => boolean) | undefined): Pick<E> | undefined {
    const t = now();
    const usable: Slot<E>[] = [];
    let avoided: Slot<E> | undefined;
    for (const s of slots) {
      if (!admits(s.breaker, t)) continue;
      if (avoid !== undefined && s.endpoint === avoid) avoided = s;
      else if (skip?.(s.endpoint)) avoided ??= s;
      else usable.push(s);
    }
    if (usable.length === 0) return avoided ? start(avoided) : undefined;
    if (usable.length === 1) return start(usable[0] as Slot<E>);
    const [i, j] = twoDistinct(usable.length, random);
    const a = usable[i] as Slot<E>;
    const b = usable[j] as Slot<E>;
    return start(cost(b.state, t, decayMs, defaultRttMs) < cost(a.state, t, decayMs, defaultRttMs) ? b : a);
  }

  return {
    get size() { return slots.length; },
    update(endpoints) {
      const previous = new Map(slots.map((s) => [key(s.endpoint), s]));
      const seen = new Set<string>();
      const next: Slot<E>[] = [];
      for (const endpoint of endpoints) {
        const k = key(endpoint);
        if (seen.has(k)) continue;
        seen.add(k);
        const before = previous.get(k);
        next.push({ endpoint, state: before?.state ?? { rttMs: defaultRttMs, updatedAt: now(), pending: 0 }, breaker: before?.breaker ?? closedBreaker() });
      }
      slots = next;
      tripped = countTripped();
    },
    pick(avoid, skip) {
      if (slots.length === 0) return undefined;
      if (tripped > 0 || avoid !== undefined || skip !== undefined) return pickAmong(avoid, skip);
      if (slots.length === 1) return start(slots[0] as Slot<E>);
      const [i, j] = twoDistinct(slots.length, random);
      const a = slots[i] as Slot<E>;
      const b = slots[j] as Slot<E>;
      const t = now();
      return start(cost(b.state, t, decayMs, defaultRttMs) < cost(a.state, t, decayMs, defaultRttMs) ? b : a);
    },
  };
}
