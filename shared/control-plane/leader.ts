// Lease-based leader election (coordination.k8s.io/v1), as client-go does it:
// a candidate takes the Lease when its holder has not renewed it for the
// lease duration, measured on the candidate's own clock from when it saw the
// record change (so clock skew between nodes does not matter); the leader
// renews every retry period and, when it cannot renew within the renew
// deadline, stops leading at once, before anyone else can take the Lease.
// Writers ask `isLeader` right before every write.
import { CoordinationV1Api, ApiException, type KubeConfig, type V1Lease } from '@kubernetes/client-node';
import { microTime } from '../microtime.ts';
import { systemClock, type Clock } from './clock.ts';
import { SkeinError } from '../../api/errors.ts';

export interface LeaseRecord {
  holderIdentity?: string | undefined;
  leaseDurationSeconds?: number | undefined;
  acquireTime?: string | undefined;
  renewTime?: string | undefined;
  leaseTransitions?: number | undefined;
}

/** The Lease as the elector reads and writes it; `version` is the resourceVersion a write must match. */
export interface LeaseStore {
  get(): Promise<{ record: LeaseRecord; version: string } | undefined>;
  /** Fails with a LeaseConflict when the Lease exists already. */
  create(record: LeaseRecord): Promise<void>;
  /** Fails with a LeaseConflict when the Lease changed since `version` was read. */
  update(record: LeaseRecord, version: string): Promise<void>;
}

export class LeaseConflict extends SkeinError {
  readonly code = 'lease_conflict';
}

export interface ElectorOptions {
  store: LeaseStore;
  /** This candidate, e.g. the pod name: unique among the replicas. */
  identity: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  clock?: Clock;
  onStartedLeading?: () => void;
  onStoppedLeading?: () => void;
  onError?: (err: unknown) => void;
}

export const ELECTION_DEFAULTS = { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 };

export class LeaderElector {
  readonly #o: ElectorOptions & typeof ELECTION_DEFAULTS & { clock: Clock };
  #observed: { json: string; at: number } | undefined;
  #leading = false;
  #renewedAt = 0;
  #cancel: (() => void) | undefined;
  #stopped = true;
  #busy: Promise<void> = Promise.resolve();

  constructor(o: ElectorOptions) {
    this.#o = { ...ELECTION_DEFAULTS, clock: systemClock, ...o };
  }

  get identity(): string {
    return this.#o.identity;
  }

  /** True only while this candidate holds a Lease it renewed within the renew deadline. */
  get isLeader(): boolean {
    if (!this.#leading) return false;
    if (this.#o.clock.now() - this.#renewedAt < this.#o.renewDeadlineMs) return true;
    this.#lose();
    return false;
  }

  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#tick();
  }

  /** Stops competing; with `release` a leader hands the Lease back so another replica takes over at once. */
  async stop(release = true): Promise<void> {
    this.#stopped = true;
    this.#cancel?.();
    await this.#busy;
    const wasLeading = this.#leading;
    this.#lose();
    if (!release || !wasLeading) return;
    try {
      const current = await this.#o.store.get();
      if (current?.record.holderIdentity !== this.#o.identity) return;
      await this.#o.store.update({ ...current.record, holderIdentity: '', leaseDurationSeconds: 1, renewTime: microTime(new Date(this.#o.clock.now())) }, current.version);
    } catch (err) {
      this.#o.onError?.(err);
    }
  }

  #tick(): void {
    if (this.#stopped) return;
    this.#busy = this.tryAcquireOrRenew().then(() => undefined, (err: unknown) => { this.#o.onError?.(err); }).finally(() => {
      if (this.#leading && this.#o.clock.now() - this.#renewedAt >= this.#o.renewDeadlineMs) this.#lose();
      if (!this.#stopped) this.#cancel = this.#o.clock.after(this.#o.retryPeriodMs, () => this.#tick());
    });
  }

  #lose(): void {
    if (!this.#leading) return;
    this.#leading = false;
    this.#o.onStoppedLeading?.();
  }

  /** One round: take the Lease if free or expired, renew it if ours. Returns whether this candidate leads now. */
  async tryAcquireOrRenew(): Promise<boolean> {
    const now = this.#o.clock.now();
    const stamp = microTime(new Date(now));
    const mine: LeaseRecord = {
      holderIdentity: this.#o.identity,
      leaseDurationSeconds: Math.ceil(this.#o.leaseDurationMs / 1000),
      acquireTime: stamp,
      renewTime: stamp,
      leaseTransitions: 0,
    };
    const current = await this.#o.store.get();
    if (!current) {
      try {
        await this.#o.store.create(mine);
      } catch (err) {
        if (err instanceof LeaseConflict) return false;
        throw err;
      }
      return this.#won(now, mine);
    }
    const json = JSON.stringify(current.record);
    if (this.#observed?.json !== json) this.#observed = { json, at: now };
    const holder = current.record.holderIdentity ?? '';
    const durationMs = (current.record.leaseDurationSeconds ?? 0) * 1000;
    const ours = holder === this.#o.identity;
    if (!ours && holder !== '' && this.#observed.at + durationMs > now) {
      this.#lose();
      return false;
    }
    const next: LeaseRecord = ours
      ? { ...current.record, ...mine, acquireTime: current.record.acquireTime ?? stamp, leaseTransitions: current.record.leaseTransitions ?? 0 }
      : { ...mine, leaseTransitions: (current.record.leaseTransitions ?? 0) + 1 };
    try {
      await this.#o.store.update(next, current.version);
    } catch (err) {
      if (err instanceof LeaseConflict) { this.#lose(); return false; }
      throw err;
    }
    return this.#won(now, next);
  }

  #won(now: number, record: LeaseRecord): boolean {
    this.#renewedAt = now;
    this.#observed = { json: JSON.stringify(record), at: now };
    if (this.#stopped) return false;
    if (!this.#leading) {
      this.#leading = true;
      this.#o.onStartedLeading?.();
    }
    return true;
  }
}

const isCode = (err: unknown, code: number) => err instanceof ApiException && err.code === code;

/** The Lease `namespace/name` through the API server. */
export function kubeLeaseStore(kc: KubeConfig, namespace: string, name: string): LeaseStore {
  const api = kc.makeApiClient(CoordinationV1Api);
  // The typed model has no MicroTime serializer: times go out as strings with six fractional digits.
  const body = (record: LeaseRecord, version?: string): V1Lease => ({
    apiVersion: 'coordination.k8s.io/v1', kind: 'Lease',
    metadata: { name, namespace, ...(version ? { resourceVersion: version } : {}) },
    spec: record as unknown as NonNullable<V1Lease['spec']>,
  });
  const iso = (v: unknown) => (v instanceof Date ? microTime(v) : typeof v === 'string' ? v : undefined);
  return {
    async get() {
      try {
        const lease = await api.readNamespacedLease({ name, namespace });
        const s = lease.spec ?? {};
        return {
          version: lease.metadata?.resourceVersion ?? '',
          record: {
            holderIdentity: s.holderIdentity, leaseDurationSeconds: s.leaseDurationSeconds,
            acquireTime: iso(s.acquireTime), renewTime: iso(s.renewTime), leaseTransitions: s.leaseTransitions,
          },
        };
      } catch (err) {
        if (isCode(err, 404)) return undefined;
        throw err;
      }
    },
    async create(record) {
      try { await api.createNamespacedLease({ namespace, body: body(record) }); } catch (err) {
        if (isCode(err, 409)) throw new LeaseConflict(`Lease ${namespace}/${name} was created by another candidate`);
        throw err;
      }
    },
    async update(record, version) {
      try { await api.replaceNamespacedLease({ name, namespace, body: body(record, version) }); } catch (err) {
        if (isCode(err, 409)) throw new LeaseConflict(`Lease ${namespace}/${name} changed since it was read`);
        throw err;
      }
    },
  };
}
