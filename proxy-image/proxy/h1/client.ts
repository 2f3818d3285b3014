// The upstream side of the raw HTTP/1.1 path: keep-alive connections to an
// endpoint (the app on loopback, or a peer proxy over mutual TLS), one
// request at a time each, kept in a pool per endpoint for the next request.
// Responses are read with codec.ts; bodies pass through as bytes.
import type { Duplex } from 'node:stream';
import { bodyScanner, H1Error, parseResponseHead, type BodyScanner, type H1Limits, type ResponseHead } from './codec.ts';

export interface ResponseHandler {
  /** An informational answer (100 Continue, 103): passed on or ignored by the caller. */
  onInformational?(head: ResponseHead): void;
  /** The final head; false aborts (the connection is closed, nothing more is read). */
  onHead(head: ResponseHead): boolean;
  /** False pauses the upstream until `resume()`. */
  onData(b: Buffer): boolean;
  onEnd(): void;
  /** `received`: whether any byte of an answer came back before the failure. */
  onError(err: Error, received: boolean): void;
}

/** A pooled connection carrying one exchange at a time. */
export class UpstreamConnection {
  readonly socket: Duplex;
  readonly #pool: H1Pool;
  readonly #key: string;
  readonly #limits: H1Limits;
  #handler: ResponseHandler | undefined;
  #method = 'GET';
  #buf: Buffer | undefined;
  #head: ResponseHead | undefined;
  #scanner: BodyScanner | undefined;
  #received = false;
  #requestDone = false;
  #responseDone = false;
  #broken = false;
  /** How many exchanges this connection has carried before the current one. */
  uses = 0;

  constructor(pool: H1Pool, key: string, socket: Duplex, limits: H1Limits) {
    this.#pool = pool;
    this.#key = key;
    this.#limits = limits;
    this.socket = socket;
    socket.on('data', (b: Buffer) => this.#data(b));
    socket.on('error', (err) => this.#fail(err));
    socket.once('end', () => this.#fail(closedError()));
    socket.once('close', () => this.#fail(closedError()));
  }

  get usable(): boolean { return !this.#broken && !this.socket.destroyed && this.socket.writable && this.socket.readable; }

  /** Sends a request head (and, if given, its whole body); more body goes by `write` and `endRequest`. */
  request(head: Buffer, method: string, handler: ResponseHandler, body?: Buffer, bodyComplete = true): void {
    this.#handler = handler;
    this.#method = method;
    this.#buf = undefined;
    this.#head = undefined;
    this.#scanner = undefined;
    this.#received = false;
    this.#responseDone = false;
    this.#requestDone = bodyComplete;
    this.socket.write(body && body.length > 0 ? Buffer.concat([head, body], head.length + body.length) : head);
  }

  write(b: Buffer): boolean { return this.socket.write(b); }

  endRequest(): void {
    this.#requestDone = true;
    if (this.#responseDone) this.#release();
  }

  pause(): void { this.socket.pause(); }
  resume(): void { this.socket.resume(); }

  /** The exchange is given up: the connection cannot be reused (the answer is unread). */
  abort(): void {
    this.#handler = undefined;
    this.#broken = true;
    this.socket.destroy();
  }

  #data(b: Buffer): void {
    if (!this.#handler) {
      // Bytes with no request outstanding: the endpoint broke framing; never reuse this connection.
      this.#broken = true;
      this.socket.destroy();
      return;
    }
    this.#received = true;
    if (this.#scanner) { this.#body(b, 0); return; }
    const buf = this.#buf === undefined ? b : Buffer.concat([this.#buf, b]);
    let at = 0;
    for (;;) {
      let parsed;
      try {
        parsed = parseResponseHead(buf, at, this.#method, this.#limits);
      } catch (err) {
        this.#fail(err instanceof Error ? err : new Error(String(err)));
        return;
      }
      if (!parsed) { this.#buf = buf.subarray(at); return; }
      at = parsed.end;
      const head = parsed.head;
      if (head.status >= 100 && head.status < 200 && head.status !== 101) {
        this.#handler.onInformational?.(head);
        continue;
      }
      this.#buf = undefined;
      this.#head = head;
      if (!this.#handler.onHead(head)) { this.abort(); return; }
      this.#scanner = bodyScanner(head.framing, this.#limits.maxHeaderBytes);
      if (this.#scanner.done) { this.#finish(at < buf.length); return; }
      if (at < buf.length) this.#body(buf, at);
      return;
    }
  }

  #body(b: Buffer, start: number): void {
    const handler = this.#handler;
    if (!handler) return;
    let end: number;
    try {
      end = this.#scanner!.scan(b, start);
    } catch (err) {
      this.#fail(err instanceof Error ? err : new Error(String(err)));
      return;
    }
    const part = end < 0 ? (start === 0 ? b : b.subarray(start)) : b.subarray(start, end);
    if (part.length > 0 && !handler.onData(part)) this.socket.pause();
    if (end >= 0) this.#finish(end < b.length);
  }

  /** `extra`: bytes after the answer, which no request asked for. */
  #finish(extra: boolean): void {
    const handler = this.#handler;
    this.#responseDone = true;
    if (extra || !this.#head?.keepAlive) this.#broken = true;
    this.#handler = undefined;
    handler?.onEnd();
    if (this.#requestDone) this.#release();
  }

  #release(): void {
    this.uses++;
    if (this.#broken || !this.usable) { this.socket.destroy(); return; }
    this.socket.resume();
    this.#pool.release(this.#key, this);
  }

  #fail(err: Error): void {
    this.#broken = true;
    const handler = this.#handler;
    this.#handler = undefined;
    this.#pool.forget(this.#key, this);
    if (!this.socket.destroyed) this.socket.destroy();
    if (!handler) return;
    // A body that runs until the connection closes ends here.
    if (this.#scanner && this.#head?.framing.kind === 'close' && (err as { code?: string }).code === 'ECONNCLOSED') { handler.onEnd(); return; }
    handler.onError(err, this.#received);
  }
}

function closedError(): Error & { code: string } {
  const e = new Error('the endpoint closed the connection') as Error & { code: string };
  e.code = 'ECONNCLOSED';
  return e;
}

export interface H1PoolOptions {
  /** Idle connections close after this (keep it below the endpoint's own keep-alive timeout). */
  idleMs: number;
  maxIdlePerKey?: number;
  limits: H1Limits;
}

/** Idle keep-alive connections per endpoint key; a connection is in the pool only while idle. */
export class H1Pool {
  readonly #idle = new Map<string, UpstreamConnection[]>();
  readonly #o: H1PoolOptions;
  readonly #timers = new WeakMap<UpstreamConnection, NodeJS.Timeout>();

  constructor(o: H1PoolOptions) {
    this.#o = o;
  }

  /** An idle connection to `key`, or a new one from `dial`. */
  async acquire(key: string, dial: () => Promise<Duplex>): Promise<UpstreamConnection> {
    const list = this.#idle.get(key);
    while (list && list.length > 0) {
      const c = list.pop()!;
      clearTimeout(this.#timers.get(c));
      if (c.usable) return c;
    }
    return new UpstreamConnection(this, key, await dial(), this.#o.limits);
  }

  release(key: string, c: UpstreamConnection): void {
    let list = this.#idle.get(key);
    if (!list) this.#idle.set(key, list = []);
    if (list.length >= (this.#o.maxIdlePerKey ?? 256)) { c.socket.destroy(); return; }
    list.push(c);
    const timer = setTimeout(() => { this.forget(key, c); c.socket.destroy(); }, this.#o.idleMs);
    timer.unref();
    this.#timers.set(c, timer);
  }

  forget(key: string, c: UpstreamConnection): void {
    const list = this.#idle.get(key);
    const i = list ? list.indexOf(c) : -1;
    if (i >= 0) list!.splice(i, 1);
    if (list?.length === 0) this.#idle.delete(key);
    clearTimeout(this.#timers.get(c));
  }

  /** Idle connections now (for tests and metrics). */
  idleCount(key: string): number { return this.#idle.get(key)?.length ?? 0; }

  close(): void {
    for (const list of this.#idle.values()) for (const c of list) { clearTimeout(this.#timers.get(c)); c.socket.destroy(); }
    this.#idle.clear();
  }
}

export { H1Error };
