// A list+watch cache that does not give up. The client library's own informer
// stops on any error but a 410 and never relists on its own (see
// ecosystem-notes §2), so this one:
//  - resumes a watch that ended or broke from the last resourceVersion seen,
//  - relists when the server says the version is gone (410) or on any list
//    failure, with capped exponential backoff and jitter,
//  - relists every `resyncMs` anyway, which heals a watch that went silent,
//  - reports every object change to one callback, and the whole cache is
//    always readable, so consumers can be level-triggered.
import { Watch, RequestContext, HttpMethod, type KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import { fetch } from 'undici';

export type EventType = 'added' | 'modified' | 'deleted';

export interface InformerOptions<T extends KubernetesObject> {
  kubeConfig: KubeConfig;
  /** API path of the collection, e.g. `/api/v1/pods`. */
  path: string;
  labelSelector?: string;
  fieldSelector?: string;
  onEvent: (type: EventType, obj: T) => void;
  /** Called after every successful list, with the complete cache. */
  onSync?: (objects: T[]) => void;
  onError?: (err: unknown) => void;
  resyncMs?: number;
  maxBackoffMs?: number;
}

export function keyOf(obj: KubernetesObject): string {
  const ns = obj.metadata?.namespace;
  return ns ? `${ns}/${obj.metadata?.name ?? ''}` : obj.metadata?.name ?? '';
}

interface ListResponse<T> {
  items?: T[];
  metadata?: { resourceVersion?: string };
}

export class Informer<T extends KubernetesObject> {
  readonly #opts: InformerOptions<T>;
  readonly #cache = new Map<string, T>();
  readonly #watch: Watch;
  #resourceVersion = '';
  #abort: AbortController | undefined;
  #stopped = true;
  #failures = 0;
  #timer: NodeJS.Timeout | undefined;
  #lastList = 0;
  #synced!: Promise<void>;
  #markSynced!: () => void;

  constructor(opts: InformerOptions<T>) {
    this.#opts = opts;
    this.#watch = new Watch(opts.kubeConfig);
    this.#resetSynced();
  }

  /** Resolves once the first list has filled the cache. */
  get synced(): Promise<void> {
    return this.#synced;
  }

  get(key: string): T | undefined {
    return this.#cache.get(key);
  }

  list(): T[] {
    return [...this.#cache.values()];
  }

  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#schedule(0, true);
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#abort?.abort();
    this.#abort = undefined;
  }

  #resetSynced(): void {
    this.#synced = new Promise((resolve) => { this.#markSynced = resolve; });
  }

  #schedule(delayMs: number, relist: boolean): void {
    clearTimeout(this.#timer);
    if (this.#stopped) return;
    this.#timer = setTimeout(() => { void (relist ? this.#relist() : this.#startWatch()); }, delayMs);
  }

  #backoff(): number {
    // Capped low on purpose: only a few control-plane replicas run informers, so
    // retrying a dead API server every few seconds costs it nothing, while a 30 s
    // cap (client-go's) left discovery up to 45 s behind after a restart.
    const max = this.#opts.maxBackoffMs ?? 5_000;
    const base = Math.min(max, 200 * 2 ** Math.min(this.#failures, 10));
    this.#failures++;
    return base / 2 + Math.random() * (base / 2);
  }

  #query(): Record<string, string> {
    const q: Record<string, string> = {};
    if (this.#opts.labelSelector) q.labelSelector = this.#opts.labelSelector;
    if (this.#opts.fieldSelector) q.fieldSelector = this.#opts.fieldSelector;
    return q;
  }

  async #relist(): Promise<void> {
    if (this.#stopped) return;
    try {
      const url = new URL(this.#opts.path, 'http://x');
      for (const [k, v] of Object.entries(this.#query())) url.searchParams.set(k, v);
      const list = await getJson<ListResponse<T>>(this.#opts.kubeConfig, url.pathname + url.search);
      if (this.#stopped) return;
      this.#replace(list.items ?? []);
      this.#resourceVersion = list.metadata?.resourceVersion ?? '';
      this.#lastList = Date.now();
      this.#failures = 0;
      this.#opts.onSync?.(this.list());
      this.#markSynced();
      this.#schedule(0, false);
    } catch (err) {
      this.#opts.onError?.(err);
      this.#schedule(this.#backoff(), true);
    }
  }

  /** Applies a fresh list as the truth: emits what was added, changed or vanished. */
  #replace(items: T[]): void {
    const fresh = new Map(items.map((o) => [keyOf(o), o]));
    for (const [key, old] of this.#cache) {
      if (!fresh.has(key)) { this.#cache.delete(key); this.#opts.onEvent('deleted', old); }
    }
    for (const [key, obj] of fresh) {
      const old = this.#cache.get(key);
      this.#cache.set(key, obj);
      if (!old) this.#opts.onEvent('added', obj);
      else if (old.metadata?.resourceVersion !== obj.metadata?.resourceVersion) this.#opts.onEvent('modified', obj);
    }
  }

  async #startWatch(): Promise<void> {
    if (this.#stopped) return;
    if (Date.now() - this.#lastList > (this.#opts.resyncMs ?? 300_000)) { this.#schedule(0, true); return; }
    let gone = false;
    const query = { ...this.#query(), resourceVersion: this.#resourceVersion, allowWatchBookmarks: true, timeoutSeconds: 240 + Math.floor(Math.random() * 60) };
    try {
      this.#abort = await this.#watch.watch(this.#opts.path, query, (phase: string, obj: T & { code?: number }) => {
        if (phase === 'ERROR') { gone = obj.code === 410; return; }
        const rv = obj.metadata?.resourceVersion;
        if (rv) this.#resourceVersion = rv;
        if (phase === 'BOOKMARK') return;
        const key = keyOf(obj);
        if (phase === 'DELETED') {
          this.#cache.delete(key);
          this.#opts.onEvent('deleted', obj);
        } else {
          const existed = this.#cache.has(key);
          this.#cache.set(key, obj);
          this.#opts.onEvent(existed ? 'modified' : 'added', obj);
        }
      }, (err: unknown) => {
        this.#abort = undefined;
        if (this.#stopped) return;
        const status = (err as { statusCode?: number } | null)?.statusCode;
        if (gone || status === 410) { this.#schedule(0, true); return; }
        // A clean end (server timeout, inactivity) resumes at once; a failure backs off and relists.
        const timedOut = err instanceof Error && err.name === 'TimeoutError';
        if (err && !timedOut) {
          this.#opts.onError?.(err);
          this.#schedule(this.#backoff(), true);
        } else {
          this.#schedule(0, false);
        }
      });
    } catch (err) {
      this.#opts.onError?.(err);
      this.#schedule(this.#backoff(), true);
    }
  }
}

/** A GET through the kubeconfig's credentials, for paths the typed clients do not cover generically. */
export async function getJson<R>(kc: KubeConfig, path: string): Promise<R> {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('kubeconfig has no current cluster');
  const ctx = new RequestContext(cluster.server + path, HttpMethod.GET);
  await kc.applySecurityAuthentication(ctx);
  const res = await fetch(ctx.getUrl(), { headers: ctx.getHeaders(), dispatcher: ctx.getDispatcher() as never, signal: AbortSignal.timeout(30_000) });
  if (!res.ok) {
    const err = new Error(`GET ${path}: ${res.status} ${await res.text()}`) as Error & { statusCode: number };
    err.statusCode = res.status;
    throw err;
  }
  return await res.json() as R;
}
