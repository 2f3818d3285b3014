// One HTTP/2 session per upstream (a peer proxy over mTLS, or a plaintext h2
// server), shared by every request to it: connections between proxies are
// multiplexed, not one per downstream connection. A session that closes,
// errors or receives GOAWAY is forgotten and the next request dials again;
// concurrent first requests share one dial.
import http2, { type ClientHttp2Session } from 'node:http2';
import type { Duplex } from 'node:stream';

/** Requests carry their own :authority; this only names the session. */
const UPSTREAM_URL = 'http://upstream.skein.invalid';

export type Dial = () => Promise<Duplex>;

export interface SessionPoolOptions {
  /** Close a session with no stream for this long. */
  idleMs: number;
}

export class SessionPool {
  readonly #o: SessionPoolOptions;
  readonly #sessions = new Map<string, Promise<ClientHttp2Session>>();

  constructor(o: SessionPoolOptions) {
    this.#o = o;
  }

  get size(): number {
    return this.#sessions.size;
  }

  get(key: string, dial: Dial): Promise<ClientHttp2Session> {
    const existing = this.#sessions.get(key);
    if (existing) return existing;
    const created = this.#open(key, dial);
    this.#sessions.set(key, created);
    created.catch(() => this.#forget(key, created));
    return created;
  }

  async #open(key: string, dial: Dial): Promise<ClientHttp2Session> {
    const socket = await dial();
    const session = http2.connect(UPSTREAM_URL, { createConnection: () => socket, settings: { initialWindowSize: 1 << 20 } });
    const mine = this.#sessions.get(key);
    const forget = () => { if (mine) this.#forget(key, mine); };
    session.on('error', forget);
    session.on('goaway', forget);
    session.on('close', forget);
    session.setTimeout(this.#o.idleMs, () => { forget(); session.close(); });
    // A pooled session must not keep the process alive on its own.
    session.unref();
    return session;
  }

  #forget(key: string, which: Promise<ClientHttp2Session>): void {
    if (this.#sessions.get(key) === which) this.#sessions.delete(key);
  }

  close(): void {
    for (const p of this.#sessions.values()) p.then((s) => s.close(), () => {});
    this.#sessions.clear();
  }
}
