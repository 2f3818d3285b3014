// A list+watch cache that does not give up. The client library's own informer
// stops on any error but a 410 and never relists on its own (see
// ecosystem-notes §2), so this one, with client-go's semantics:
//  - lists in pages (`limit` and `continue`), each page with its own timeout,
//    so a cluster's worth of pods is never one request that must finish in
//    30 s; when a continue token expires (410) it falls back, as client-go's
//    pager does, to one list without a limit and a longer timeout,
//  - keeps the resume point (the last resourceVersion seen, bookmarks
//    included) and resumes a watch that ended or broke from it, with capped
//    exponential backoff and jitter when it broke,
//  - relists only when the server says that version is gone (410 Gone /
//    Expired), never on a timer: a relist of every pod is the most expensive
//    thing an informer can ask of the API server,
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
  maxBackoffMs?: number;
  /** Objects per list page (client-go's default is 500). */
  pageSize?: number;
  /** Each list page (and each watch's connection) must answer within this. */
  requestTimeoutMs?: number;
}

export function keyOf(obj: KubernetesObject): string {
  const ns = obj.metadata?.namespace;
  return ns ? `${ns}/${obj.metadata?.name ?? ''}` : obj.metadata?.name ?? '';
}

interface ListResponse<T> {
  items?: T[];
  metadata?: { resourceVersion?: string; continue?: string };
}

/** How long the unpaginated fallback list may take: what an expired continue token leaves. */
const FULL_LIST_TIMEOUT_MS = 300_000;

const isGone = (err: unknown) => (err as { statusCode?: number } | null)?.statusCode === 410;

export class Informer<T extends KubernetesObject> {
  readonly #opts: InformerOptions<T>;
  readonly #cache = new Map<string, T>();
  readonly #watch: Watch;
  #resourceVersion = '';
  #abort: AbortController | undefined;
  #stopped = true;
  #failures = 0;
  #timer: NodeJS.Timeout | undefined;
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
      const list = await this.#listAll();
      if (this.#stopped) return;
      this.#replace(list.items);
      this.#resourceVersion = list.resourceVersion;
      this.#failures = 0;
      this.#opts.onSync?.(this.list());
      this.#markSynced();
      this.#schedule(0, false);
    } catch (err) {
      this.#opts.onError?.(err);
      this.#schedule(this.#backoff(), true);
    }
  }

  /** One consistent snapshot, page by page; an expired continue token falls back to one unpaginated list. */
  async #listAll(): Promise<{ items: T[]; resourceVersion: string }> {
    const url = (extra: Record<string, string>) => {
      const u = new URL(this.#opts.path, 'http://x');
      for (const [k, v] of Object.entries({ ...this.#query(), ...extra })) u.searchParams.set(k, v);
      return u.pathname + u.search;
    };
    const pageTimeout = this.#opts.requestTimeoutMs ?? 30_000;
    const items: T[] = [];
    let token = '';
    for (;;) {
      let page: ListResponse<T>;
      try {
        page = await getJson<ListResponse<T>>(this.#opts.kubeConfig, url({ limit: String(this.#opts.pageSize ?? 500), ...(token ? { continue: token } : {}) }), pageTimeout);
      } catch (err) {
        if (!token || !isGone(err)) throw err;
        const full = await getJson<ListResponse<T>>(this.#opts.kubeConfig, url({}), FULL_LIST_TIMEOUT_MS);
        return { items: full.items ?? [], resourceVersion: full.metadata?.resourceVersion ?? '' };
      }
      items.push(...(page.items ?? []));
      token = page.metadata?.continue ?? '';
      if (!token) return { items, resourceVersion: page.metadata?.resourceVersion ?? '' };
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
    let gone = false;
    const query = { ...this.#query(), resourceVersion: this.#resourceVersion, allowWatchBookmarks: true, timeoutSeconds: 240 + Math.floor(Math.random() * 60) };
    try {
      this.#abort = await this.#watch.watch(this.#opts.path, query, (phase: string, obj: T & { code?: number }) => {
        if (phase === 'ERROR') { gone = obj.code === 410; return; }
        const rv = obj.metadata?.resourceVersion;
        if (rv) this.#resourceVersion = rv;
        this.#failures = 0;
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
        // The resume point is gone: only now is the whole collection listed again.
        if (gone || isGone(err)) { this.#schedule(0, true); return; }
        // A clean end (server timeout, inactivity) resumes at once; a failure backs off, then resumes.
        const timedOut = err instanceof Error && err.name === 'TimeoutError';
        if (err && !timedOut) {
          this.#opts.onError?.(err);
          this.#schedule(this.#backoff(), false);
        } else {
          this.#failures = 0;
          this.#schedule(0, false);
        }
      });
    } catch (err) {
      if (isGone(err)) { this.#schedule(0, true); return; }
      this.#opts.onError?.(err);
      this.#schedule(this.#backoff(), false);
    }
  }
}

/** A GET through the kubeconfig's credentials, for paths the typed clients do not cover generically. */
export async function getJson<R>(kc: KubeConfig, path: string, timeoutMs = 30_000): Promise<R> {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('kubeconfig has no current cluster');
  const ctx = new RequestContext(cluster.server + path, HttpMethod.GET);
  await kc.applySecurityAuthentication(ctx);
  const res = await fetch(ctx.getUrl(), { headers: ctx.getHeaders(), dispatcher: ctx.getDispatcher() as never, signal: AbortSignal.timeout(timeoutMs) });
  if (!res.ok) {
    const err = new Error(`GET ${path}: ${res.status} ${await res.text()}`) as Error & { statusCode: number };
    err.statusCode = res.status;
    throw err;
  }
  return await res.json() as R;
}
