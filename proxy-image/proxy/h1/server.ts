// The downstream side of the raw HTTP/1.1 path: reads requests from an
// accepted connection (plain or TLS) with codec.ts and hands each to the
// proxy as an exchange whose body is streamed as bytes and whose response is
// written as bytes; no node:http objects on the way. Requests are served one
// at a time: a pipelined request waits, its bytes buffered (bounded), until
// the answer before it has been written whole, so answers can never
// interleave or reorder. Limits: head size and count, a headers timeout from
// a head's first byte (slowloris), an idle timeout between requests.
// Malformed requests get 400/431/408 marked as the proxy's, and the
// connection closes. `Expect: 100-continue` is answered with the 100 the
// endpoint sends (relay.ts); an Upgrade request without a body waits for the
// endpoint's answer: a 101 turns the connection into a byte tunnel
// (tunnel.ts), anything else is answered and the connection closed, since
// the bytes after an upgrade request are not known to be HTTP.
import type { Duplex } from 'node:stream';
import { bodyScanner, H1Error, parseRequestHead, type BodyScanner, type H1Limits, type HeaderMap, type RequestHead } from './codec.ts';

export interface H1ServerLimits extends H1Limits {
  headersTimeoutMs: number;
  idleMs: number;
}

export interface H1ServerHooks {
  /** Every request, Upgrade and `Expect: 100-continue` ones included (see ServerExchange's `continue` and `switchProtocols`). */
  onRequest(ex: ServerExchange): void;
  /** A request that could not be read (counted by the caller); the answer is already written. */
  onMalformed(err: H1Error | undefined): void;
}

/** Why the proxy answers a request it could not read; pure so tests can read it. */
export function malformedResponse(status: number, marker: string): Buffer {
  const reason = status === 431 ? 'Request Header Fields Too Large' : status === 408 ? 'Request Timeout' : 'Bad Request';
  return Buffer.from(`HTTP/1.1 ${status} ${reason}\r\n${marker}: malformed_request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n`, 'latin1');
}

/** The request side: what routing, authorization and metrics read, like node:http's IncomingMessage. */
export interface RequestView {
  readonly method: string;
  readonly url: string;
  readonly headers: HeaderMap;
}

const enum_ = { Head: 0, Body: 1, Waiting: 2, Closed: 3 } as const;
type State = (typeof enum_)[keyof typeof enum_];

/** Body chunks up to this size are copied behind the response head and written with it. */
const COALESCE_BYTES = 16 * 1024;

const CONTINUE = Buffer.from('HTTP/1.1 100 Continue\r\n\r\n', 'latin1');

/** Buffered pipelined bytes beyond this pause the socket until the answer before them is written. */
const PIPELINE_BUFFER_BYTES = 64 * 1024;

/** One request and its answer. The proxy reads the body once (`readBody`) and writes the answer once. */
export class ServerExchange implements RequestView {
  readonly head: RequestHead;
  readonly #conn: H1ServerConnection;
  #onChunk: ((b: Buffer) => boolean) | undefined;
  #onEnd: (() => void) | undefined;
  /** Body bytes that arrived before `readBody`. */
  #early: Buffer[] = [];
  #bodyDone: boolean;
  #responded = false;
  #finished = false;
  #continued = false;
  /** The response head, held until the first body bytes or the end so both leave in one write (one TLS record, one syscall). */
  #pendingHead: Buffer | undefined;
  /** Set when the client goes away before the answer was written. */
  onAbort: (() => void) | undefined;

  constructor(conn: H1ServerConnection, head: RequestHead) {
    this.#conn = conn;
    this.head = head;
    this.#bodyDone = head.framing.kind === 'none';
    // Whatever follows an upgrade request that was not switched is not known to be HTTP.
    if (head.upgrade) conn.closeAfterResponse();
  }

  /** An Upgrade request (no body): the answer is a 101 and a tunnel, or any other answer and the close. */
  get upgrade(): boolean { return this.head.upgrade && this.head.framing.kind === 'none'; }

  /** The endpoint said 100 Continue: passed on once, if the client asked for it and is still waiting to send its body. */
  continue(): void {
    if (this.#continued || this.#responded || this.#finished || this.#bodyDone || !this.head.expectContinue) return;
    this.#continued = true;
    this.#conn.socket.write(CONTINUE);
  }

  /**
   * Writes the endpoint's 101 and gives the connection up: the socket and the
   * bytes the client sent after its request (a tunnel's first bytes) are the
   * caller's, no HTTP is read from it again.
   */
  switchProtocols(head: Buffer): { socket: Duplex; rest: Buffer | undefined } {
    this.#responded = true;
    this.#finished = true;
    const rest = this.#conn.detach();
    this.#conn.socket.write(head);
    return { socket: this.#conn.socket, rest };
  }

  get method(): string { return this.head.method; }
  get url(): string { return this.head.target; }
  get headers(): HeaderMap { return this.head.headers; }
  get hasBody(): boolean { return this.head.framing.kind !== 'none'; }
  get responded(): boolean { return this.#responded; }
  get finished(): boolean { return this.#finished; }
  get socket(): Duplex { return this.#conn.socket; }

  /** Streams the body's bytes as they came (chunked framing included); `onChunk` returning false pauses the client until `resumeBody`. */
  readBody(onChunk: (b: Buffer) => boolean, onEnd: () => void): void {
    this.#onChunk = onChunk;
    this.#onEnd = onEnd;
    const early = this.#early;
    this.#early = [];
    for (const b of early) if (!onChunk(b)) this.#conn.pause();
    if (this.#bodyDone) onEnd();
  }

  resumeBody(): void { this.#conn.resume(); }

  /** @internal body bytes from the connection. */
  body(b: Buffer, last: boolean): void {
    if (b.length > 0) {
      if (this.#onChunk) { if (!this.#onChunk(b)) this.#conn.pause(); }
      else this.#early.push(b);
    }
    if (last) {
      this.#bodyDone = true;
      this.#onEnd?.();
    }
  }

  get bodyDone(): boolean { return this.#bodyDone; }

  /** Writes the response head (built by the caller with codec.ts); `close` ends the connection after this answer. */
  respond(head: Buffer, close: boolean): void {
    if (this.#responded || this.#finished) return;
    this.#responded = true;
    if (close) this.#conn.closeAfterResponse();
    this.#pendingHead = head;
  }

  write(b: Buffer): boolean {
    const head = this.#pendingHead;
    if (head === undefined) return this.#conn.socket.write(b);
    this.#pendingHead = undefined;
    // Not cork()+writev: for the small answers most requests get, one copy is cheaper than Node's writev path.
    const s = this.#conn.socket;
    if (b.length <= COALESCE_BYTES) return s.write(Buffer.concat([head, b], head.length + b.length));
    s.write(head);
    return s.write(b);
  }

  /** The answer is whole: the connection reads the next request, or closes. */
  end(): void {
    if (this.#finished) return;
    this.#finished = true;
    const head = this.#pendingHead;
    if (head !== undefined) { this.#pendingHead = undefined; this.#conn.socket.write(head); }
    this.#conn.exchangeDone(this);
  }

  /** The answer cannot be completed (its upstream failed after the head): the client sees the connection close. */
  destroy(): void {
    this.#finished = true;
    this.#conn.socket.destroy();
  }

  onDrain(f: () => void): void { this.#conn.socket.once('drain', f); }
}

export class H1ServerConnection {
  readonly socket: Duplex;
  readonly #limits: H1ServerLimits;
  readonly #hooks: H1ServerHooks;
  #state: State = enum_.Head;
  #buf: Buffer | undefined;
  #current: ServerExchange | undefined;
  #scanner: BodyScanner | undefined;
  #closeAfter = false;
  #paused = false;
  #timer: NodeJS.Timeout | undefined;
  #timerKind: 'idle' | 'headers' | undefined;
  readonly #onData = (b: Buffer) => this.#data(b);

  constructor(socket: Duplex, limits: H1ServerLimits, hooks: H1ServerHooks) {
    this.socket = socket;
    this.#limits = limits;
    this.#hooks = hooks;
    socket.on('data', this.#onData);
    socket.on('error', () => socket.destroy());
    socket.once('end', () => {
      switch (this.#state) {
        case enum_.Head:
          // Nothing more can complete a cut head.
          if (this.idle) socket.end();
          else this.#refuse(400, new H1Error('bad_request_line', 'the client ended its side inside a request head'));
          return;
        // A cut body: the request cannot be completed, so neither can its exchange.
        case enum_.Body: socket.destroy(); return;
        // A client that ended its side after a whole request gets its answer, then the close.
        default: this.#closeAfter = true;
      }
    });
    socket.once('close', () => {
      this.#state = enum_.Closed;
      clearTimeout(this.#timer);
      const ex = this.#current;
      if (ex && !ex.finished) ex.onAbort?.();
    });
    this.#arm('idle');
  }

  get idle(): boolean { return this.#state === enum_.Head && (this.#buf === undefined || this.#buf.length === 0); }

  /** Graceful shutdown: an idle connection closes now, a busy one after its answer. */
  drain(): void {
    if (this.idle) this.#close();
    else this.#closeAfter = true;
  }

  /** Ends the connection at a request boundary: nothing read after it is processed, so a request that crossed the close was not. */
  #close(): void {
    this.#state = enum_.Closed;
    this.#disarm();
    this.socket.off('data', this.#onData);
    this.socket.end();
  }

  closeAfterResponse(): void { this.#closeAfter = true; }

  /**
   * No more HTTP on this connection (it carries a tunnel now): stops reading
   * and returns the bytes read but not used. The socket stays paused until
   * its new reader pipes it (pipe() resumes it), so no byte is lost between.
   */
  detach(): Buffer | undefined {
    this.#state = enum_.Closed;
    this.#disarm();
    this.socket.off('data', this.#onData);
    this.socket.pause();
    this.#paused = false;
    const rest = this.#buf;
    this.#buf = undefined;
    this.#current = undefined;
    return rest !== undefined && rest.length > 0 ? rest : undefined;
  }

  pause(): void {
    if (!this.#paused) { this.#paused = true; this.socket.pause(); }
  }

  resume(): void {
    if (this.#paused) { this.#paused = false; this.socket.resume(); }
  }

  #arm(kind: 'idle' | 'headers'): void {
    if (this.#timerKind === kind && this.#timer) { if (kind === 'idle') this.#timer.refresh(); return; }
    clearTimeout(this.#timer);
    this.#timerKind = kind;
    const ms = kind === 'idle' ? this.#limits.idleMs : this.#limits.headersTimeoutMs;
    this.#timer = setTimeout(() => this.#timeout(kind), ms);
  }

  #disarm(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerKind = undefined;
  }

  #timeout(kind: 'idle' | 'headers'): void {
    if (this.#state !== enum_.Head) return;
    if (kind === 'idle' && !this.idle) return;
    if (kind === 'headers') this.#refuse(408, undefined);
    else this.socket.destroy();
  }

  #data(b: Buffer): void {
    switch (this.#state) {
      case enum_.Body: this.#bodyBytes(b, 0); return;
      case enum_.Head:
        this.#buf = this.#buf === undefined || this.#buf.length === 0 ? b : Buffer.concat([this.#buf, b]);
        this.#parse();
        return;
      case enum_.Waiting:
        this.#buf = this.#buf === undefined || this.#buf.length === 0 ? b : Buffer.concat([this.#buf, b]);
        if (this.#buf.length > PIPELINE_BUFFER_BYTES) this.pause();
        return;
      default:
    }
  }

  #bodyBytes(b: Buffer, start: number): void {
    const scanner = this.#scanner!;
    const ex = this.#current!;
    let end: number;
    try {
      end = scanner.scan(b, start);
    } catch (err) {
      // A broken chunked body: the message boundary is lost, so the connection goes.
      this.#hooks.onMalformed(err instanceof H1Error ? err : undefined);
      this.socket.destroy();
      return;
    }
    if (end < 0) { ex.body(start === 0 ? b : b.subarray(start), false); return; }
    ex.body(b.subarray(start, end), true);
    this.#state = ex.finished ? enum_.Head : enum_.Waiting;
    this.#buf = end < b.length ? b.subarray(end) : undefined;
    if (ex.finished) this.#next();
  }

  #parse(): void {
    const buf = this.#buf;
    if (buf === undefined || buf.length === 0) { this.#arm('idle'); return; }
    let parsed;
    try {
      parsed = parseRequestHead(buf, 0, this.#limits);
    } catch (err) {
      this.#refuse(err instanceof H1Error ? err.status : 400, err instanceof H1Error ? err : undefined);
      return;
    }
    if (!parsed) { this.#arm('headers'); return; }
    this.#disarm();
    const head = parsed.head;
    const ex = new ServerExchange(this, head);
    this.#current = ex;
    if (!head.keepAlive) this.#closeAfter = true;
    const rest = parsed.end;
    this.#buf = undefined;
    if (head.framing.kind === 'none') {
      this.#state = enum_.Waiting;
      this.#buf = rest < buf.length ? buf.subarray(rest) : undefined;
    } else {
      this.#state = enum_.Body;
      this.#scanner = bodyScanner(head.framing, this.#limits.maxHeaderBytes);
    }
    this.#hooks.onRequest(ex);
    if (this.#state === enum_.Body && rest < buf.length) this.#bodyBytes(buf, rest);
  }

  /** @internal the exchange's answer is whole. */
  exchangeDone(ex: ServerExchange): void {
    if (ex !== this.#current) return;
    if (!ex.bodyDone) {
      // Answered before the request body was read: its end cannot be found without reading it all, so close.
      this.#close();
      return;
    }
    if (this.#state === enum_.Waiting) { this.#state = enum_.Head; this.#next(); }
  }

  #next(): void {
    this.#current = undefined;
    this.#scanner = undefined;
    if (this.#closeAfter) { this.#close(); return; }
    this.resume();
    this.#parse();
  }

  #refuse(status: number, err: H1Error | undefined): void {
    this.#state = enum_.Closed;
    this.#disarm();
    this.socket.off('data', this.#onData);
    this.#hooks.onMalformed(err);
    const s = this.socket;
    // Closed once written: a client that never reads (or never closes) must not hold it.
    if (s.writable && !s.destroyed) s.end(malformedResponse(status, 'skein-proxy-error'), () => s.destroy());
    else s.destroy();
  }
}
