// Subscriptions and the index that keeps them cheap: each watched target
// (and each pod's inbound policy) is computed once, however many streams
// watch it, and remembers which cache keys its computation read. An object
// change names the keys it touched; only the subscriptions indexed under
// those keys are computed again, and a listener hears only snapshots that
// differ from the last one it was sent.
import { CLUSTER_DEFAULT_INBOUND_POLICY, type InboundUpdate, type Update } from '../api/discovery-protocol.ts';
import { recording, type ClusterView } from './discovery/cache.ts';
import { targetKey, type Target } from './discovery/target.ts';
import { resolveWithPolicy, type PolicyConfig } from './policy/attach.ts';
import { compileInbound, DEFAULT_CLUSTER_NETWORKS, type InboundConfig } from './policy/inbound.ts';

export type Listener = (u: Update) => void;
export type InboundListener = (u: InboundUpdate) => void;

export type HubConfig = { trustDomain: string } & Partial<Omit<PolicyConfig & InboundConfig, 'trustDomain'>>;

interface Subscription<M> {
  compute: (view: ClusterView) => M;
  listeners: Set<(m: M) => void>;
  last: M;
  lastJson: string;
  deps: Set<string>;
}

export class DiscoveryHub {
  readonly #view: ClusterView;
  readonly #cfg: PolicyConfig & InboundConfig;
  readonly #subs = new Map<string, Subscription<unknown>>();
  readonly #index = new Map<string, Set<string>>();
  /** Computations done since start: lets tests (and metrics) see that a change did not recompute everything. */
  resolutions = 0;

  constructor(view: ClusterView, cfg: HubConfig) {
    this.#view = view;
    this.#cfg = { clusterDomain: 'cluster.local', defaultInboundPolicy: CLUSTER_DEFAULT_INBOUND_POLICY, clusterNetworks: DEFAULT_CLUSTER_NETWORKS, ...cfg };
  }

  get targets(): number {
    return this.#subs.size;
  }

  /** Delivers the current snapshot at once, then every change; returns the unsubscribe. */
  watch(target: Target, listener: Listener, clientNamespace?: string): () => void {
    // Per client namespace: consumer routes (operator/gateway/attach.ts) differ by it.
    const key = `target:${targetKey(target)}${clientNamespace === undefined ? '' : ` from:${clientNamespace}`}`;
    return this.#subscribe(key, (view) => resolveWithPolicy(view, target, this.#cfg, clientNamespace), listener);
  }

  /**
   * The inbound policy of one pod, as `watch` does for targets. Nothing is
   * sent while the pod is unknown (the caller checks it exists first).
   */
  watchInbound(namespace: string, pod: string, listener: InboundListener): () => void {
    const compute = (view: ClusterView) => {
      const p = view.pod(namespace, pod);
      return p ? compileInbound(view, p, this.#cfg) : undefined;
    };
    return this.#subscribe(`inbound:${namespace}/${pod}`, compute, (u) => { if (u) listener(u); });
  }

  #subscribe<M>(key: string, compute: (view: ClusterView) => M, listener: (m: M) => void): () => void {
    let sub = this.#subs.get(key) as Subscription<M> | undefined;
    if (!sub) {
      sub = { compute, listeners: new Set(), last: undefined as M, lastJson: '', deps: new Set() };
      this.#subs.set(key, sub as Subscription<unknown>);
      this.#recompute(key, sub);
    }
    sub.listeners.add(listener);
    listener(sub.last);
    const owned = sub;
    return () => {
      owned.listeners.delete(listener);
      if (owned.listeners.size > 0 || this.#subs.get(key) !== owned) return;
      this.#subs.delete(key);
      this.#reindex(key, owned.deps, new Set());
    };
  }

  /** Called with the keys an object change touched (ClusterCache.apply*). */
  changed(keys: Iterable<string>): void {
    const affected = new Set<string>();
    for (const k of keys) for (const t of this.#index.get(k) ?? []) affected.add(t);
    for (const key of affected) {
      const sub = this.#subs.get(key);
      if (sub && this.#recompute(key, sub)) for (const l of sub.listeners) l(sub.last);
    }
  }

  /** Returns whether the snapshot differs from the previous one. */
  #recompute<M>(key: string, sub: Subscription<M>): boolean {
    this.resolutions++;
    const r = recording(this.#view);
    const next = sub.compute(r.view);
    this.#reindex(key, sub.deps, r.deps);
    sub.deps = r.deps;
    const json = JSON.stringify(next) ?? '';
    if (json === sub.lastJson) return false;
    sub.last = next;
    sub.lastJson = json;
    return true;
  }

  #reindex(key: string, before: Set<string>, after: Set<string>): void {
    for (const d of before) {
      if (after.has(d)) continue;
      const set = this.#index.get(d);
      set?.delete(key);
      if (set?.size === 0) this.#index.delete(d);
    }
    for (const d of after) {
      const set = this.#index.get(d) ?? new Set<string>();
      set.add(key);
      this.#index.set(d, set);
    }
  }
}
