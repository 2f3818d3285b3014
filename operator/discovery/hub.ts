// Subscriptions and the index that keeps them cheap: each watched target is
// resolved once, however many streams watch it, and remembers which cache
// keys its resolution read. An object change names the keys it touched; only
// the targets indexed under those keys are resolved again, and a listener
// hears only snapshots that differ from the last one it was sent.
import type { Update } from '../../shared/discovery-protocol.ts';
import { recording, type ClusterView } from './cache.ts';
import { resolve, type ResolveConfig } from './resolve.ts';
import { targetKey, type Target } from './target.ts';

export type Listener = (u: Update) => void;

interface Subscription {
  target: Target;
  listeners: Set<Listener>;
  last: Update;
  lastJson: string;
  deps: Set<string>;
}

export class DiscoveryHub {
  readonly #view: ClusterView;
  readonly #cfg: ResolveConfig;
  readonly #subs = new Map<string, Subscription>();
  readonly #index = new Map<string, Set<string>>();
  /** Resolutions done since start: lets tests (and metrics) see that a change did not recompute everything. */
  resolutions = 0;

  constructor(view: ClusterView, cfg: ResolveConfig) {
    this.#view = view;
    this.#cfg = cfg;
  }

  get targets(): number {
    return this.#subs.size;
  }

  /** Delivers the current snapshot at once, then every change; returns the unsubscribe. */
  watch(target: Target, listener: Listener): () => void {
    const key = targetKey(target);
    let sub = this.#subs.get(key);
    if (!sub) {
      sub = { target, listeners: new Set(), last: { type: 'update', exists: false, opaque: false, endpoints: [] }, lastJson: '', deps: new Set() };
      this.#subs.set(key, sub);
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
  #recompute(key: string, sub: Subscription): boolean {
    this.resolutions++;
    const r = recording(this.#view);
    const update = resolve(r.view, sub.target, this.#cfg);
    this.#reindex(key, sub.deps, r.deps);
    sub.deps = r.deps;
    const json = JSON.stringify(update);
    if (json === sub.lastJson) return false;
    sub.last = update;
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
