// The proxy's side of the discovery API: one HTTP/2 session over mutual TLS,
// one stream per watched target multiplexed on it. When the control plane is
// away the client says so (`connected`) and delivers nothing: the proxy keeps
// its last good state. It reconnects with jittered backoff, opens new
// sessions with the credentials current at that moment (certificates renew),
// and re-subscribes every target; a silent session (no heartbeat) counts as dead.
import { connect, constants, type ClientHttp2Session, type ClientHttp2Stream } from 'node:http2';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { Message, WATCH_PATH, INBOUND_PATH, HEARTBEAT_MS, type InboundRequest, type InboundUpdate, type Update, type WatchRequest } from '../api/discovery-protocol.ts';
import { acceptResponse, requestHeaders, SkewError } from '../api/discovery-version.ts';
import type { Logger } from './log.ts';

export interface DiscoveryCredentials { cert: string; key: string; ca: string }

export interface DiscoveryClientOptions {
  /** `https://host:port` of the discovery service. */
  url: string;
  /** The identity the server's certificate must name (SKEIN_DISCOVERY_SERVER_NAME). */
  serverName: string;
  credentials: () => DiscoveryCredentials;
  /** The asking proxy's namespace, sent with each watch. */
  namespace?: string;
  logger?: Logger;
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** No line on any stream for this long and the session is taken for dead. */
  silenceMs?: number;
  /**
   * A session not established (TCP and TLS) within this long is given up and
   * retried: a Service address still pointing at a crashed replica drops the
   * SYN, and the kernel alone would keep trying for about two minutes.
   */
  connectTimeoutMs?: number;
}

interface Watch {
  /** What is watched, for logs: the target, or `inbound namespace/pod`. */
  target: string;
  path: string;
  body: string;
  /** Takes the messages of this stream's kind; others are ignored. */
  deliver: (m: Message) => void;
  stream: ClientHttp2Stream | undefined;
  retry: NodeJS.Timeout | undefined;
  failures: number;
  /** A 4xx answer: the request itself is wrong, asking again will not help. */
  refused: boolean;
}

export class DiscoveryClient {
  readonly #o: DiscoveryClientOptions & Required<Pick<DiscoveryClientOptions, 'minBackoffMs' | 'maxBackoffMs' | 'silenceMs' | 'connectTimeoutMs'>>;
  readonly #watches = new Set<Watch>();
  #session: ClientHttp2Session | undefined;
  #connected = false;
  #sessionFailures = 0;
  #reconnect: NodeJS.Timeout | undefined;
  #watchdog: NodeJS.Timeout | undefined;
  #lastLine = 0;
  #closed = false;
  /** Stay connected without watches: a proxy is ready only with discovery reachable, before its app dials anything. */
  #eager = false;
  /** Lines that failed the schema: logged and counted, never fatal. */
  badLines = 0;
  /** Sessions established, the first included. */
  sessions = 0;
  /** The protocol version the last stream negotiated (api/discovery-version.ts); 0 before any. */
  protocolVersion = 0;
  /** Streams given up because the two sides' protocol versions do not overlap; retried, as the other side may be upgraded. */
  skewRefusals = 0;

  constructor(o: DiscoveryClientOptions) {
    this.#o = { minBackoffMs: 250, maxBackoffMs: 15_000, silenceMs: 3 * HEARTBEAT_MS, connectTimeoutMs: 5_000, ...o };
  }

  get connected(): boolean {
    return this.#connected;
  }

  watch(target: string, onUpdate: (u: Update) => void): () => void {
    const body: WatchRequest = { target, ...(this.#o.namespace !== undefined ? { namespace: this.#o.namespace } : {}) };
    return this.#add(target, WATCH_PATH, body, (m) => { if (m.type === 'update') onUpdate(m); });
  }

  /** The inbound policy of one pod (its own proxy's), with the same reconnects and keep-last-good as `watch`. */
  watchInbound(req: InboundRequest, onUpdate: (u: InboundUpdate) => void): () => void {
    return this.#add(`inbound ${req.namespace}/${req.pod}`, INBOUND_PATH, req, (m) => { if (m.type === 'inbound') onUpdate(m); });
  }

  #add(target: string, path: string, body: WatchRequest | InboundRequest, deliver: (m: Message) => void): () => void {
    const w: Watch = { target, path, body: JSON.stringify(body), deliver, stream: undefined, retry: undefined, failures: 0, refused: false };
    this.#watches.add(w);
    if (this.#connected) this.#open(w); else this.#ensureSession();
    return () => {
      this.#watches.delete(w);
      clearTimeout(w.retry);
      w.stream?.close(constants.NGHTTP2_CANCEL);
    };
  }

  /** Opens the session now and keeps one open (reconnecting) even while nothing is watched. */
  connect(): void {
    this.#eager = true;
    this.#ensureSession();
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#reconnect);
    clearInterval(this.#watchdog);
    for (const w of this.#watches) clearTimeout(w.retry);
    this.#watches.clear();
    this.#session?.destroy();
  }

  #backoff(failures: number): number {
    const base = Math.min(this.#o.maxBackoffMs, this.#o.minBackoffMs * 2 ** Math.min(failures, 16));
    return base / 2 + Math.random() * (base / 2);
  }

  #ensureSession(): void {
    if (this.#session || this.#closed || this.#reconnect) return;
    let session: ClientHttp2Session;
    // The socket is ours so a connect timeout can end it: destroying a session whose
    // TCP handshake is still pending does not close it until the kernel gives up.
    let socket: TLSSocket | undefined;
    try {
      const tlsOptions = { ...this.#o.credentials(), servername: this.#o.serverName, ALPNProtocols: ['h2'] };
      session = connect(this.#o.url, {
        ...tlsOptions,
        createConnection: (authority: URL) => {
          socket = tlsConnect({ ...tlsOptions, host: authority.hostname.replace(/^\[(.*)\]$/, '$1'), port: Number(authority.port || 443) });
          return socket;
        },
      });
    } catch (err) {
      // Bad credentials (e.g. a key that does not match) fail here, synchronously.
      this.#o.logger?.warn({ err }, 'cannot open a discovery session; retrying');
      this.#scheduleReconnect();
      return;
    }
    this.#session = session;
    const connectTimer = setTimeout(() => {
      this.#o.logger?.warn({ url: this.#o.url, timeoutMs: this.#o.connectTimeoutMs }, 'discovery session not established in time; retrying');
      session.destroy();
      socket?.destroy();
    }, this.#o.connectTimeoutMs);
    session.on('connect', () => {
      clearTimeout(connectTimer);
      this.#connected = true;
      this.#sessionFailures = 0;
      this.sessions++;
      this.#lastLine = Date.now();
      this.#o.logger?.info({ url: this.#o.url }, 'discovery connected');
      for (const w of this.#watches) this.#open(w);
      this.#watchdog = setInterval(() => { this.#checkSilence(session); }, Math.max(50, this.#o.silenceMs / 4));
    });
    session.on('error', (err: Error) => { this.#o.logger?.warn({ err: err.message }, 'discovery session failed'); });
    session.on('close', () => {
      clearTimeout(connectTimer);
      if (this.#session === session) this.#session = undefined;
      clearInterval(this.#watchdog);
      const wasConnected = this.#connected;
      this.#connected = false;
      for (const w of this.#watches) { w.stream = undefined; clearTimeout(w.retry); w.retry = undefined; }
      if (wasConnected) this.#o.logger?.warn('discovery disconnected; keeping the last good state');
      else this.#sessionFailures++;
      this.#scheduleReconnect();
    });
  }

  #scheduleReconnect(): void {
    if (this.#closed || (this.#watches.size === 0 && !this.#eager) || this.#reconnect) return;
    this.#reconnect = setTimeout(() => { this.#reconnect = undefined; this.#ensureSession(); }, this.#backoff(this.#sessionFailures));
  }

  #checkSilence(session: ClientHttp2Session): void {
    const streaming = [...this.#watches].some((w) => w.stream !== undefined);
    if (!streaming) {
      // No stream means no heartbeats: a ping tells a live session from a dead one.
      if (Date.now() - this.#lastLine >= this.#o.silenceMs) {
        this.#lastLine = Date.now();
        session.ping((err) => { if (err) { this.#o.logger?.warn({ err: err.message }, 'discovery did not answer a ping; reconnecting'); session.destroy(); } });
      }
      return;
    }
    if (Date.now() - this.#lastLine < this.#o.silenceMs) return;
    this.#o.logger?.warn({ silentMs: Date.now() - this.#lastLine }, 'discovery sent nothing, not even a heartbeat; reconnecting');
    session.destroy();
  }

  #open(w: Watch): void {
    const session = this.#session;
    if (!session || w.stream || w.refused || !this.#watches.has(w)) return;
    const stream = session.request({ ':method': 'POST', ':path': w.path, 'content-type': 'application/json', ...requestHeaders() });
    w.stream = stream;
    stream.end(w.body);
    let status = 0;
    let buffer = '';
    let skewed = false;
    stream.setEncoding('utf8');
    stream.on('response', (h) => {
      status = Number(h[':status']);
      if (status !== 200) return;
      try {
        this.protocolVersion = acceptResponse(h).version;
      } catch (err) {
        if (!(err instanceof SkewError)) throw err;
        // Nothing this stream says can be trusted to mean what this proxy reads: keep the last good state.
        skewed = true;
        this.skewRefusals++;
        this.#o.logger?.error({ target: w.target, code: err.code }, err.message);
        stream.close(constants.NGHTTP2_CANCEL);
      }
    });
    stream.on('data', (chunk: string) => {
      buffer += chunk;
      // An error answer is JSON without a newline; only a 200 stream carries messages.
      if (status !== 200 || skewed) return;
      for (let i = buffer.indexOf('\n'); i >= 0; i = buffer.indexOf('\n')) {
        this.#line(w, buffer.slice(0, i));
        buffer = buffer.slice(i + 1);
      }
    });
    stream.on('error', () => undefined);
    stream.on('close', () => {
      if (w.stream !== stream) return;
      w.stream = undefined;
      const skew = skewed || /"error":"protocol_version_(unsupported|malformed)"/.test(buffer);
      if (skew && !skewed) {
        this.skewRefusals++;
        this.#o.logger?.error({ target: w.target, status, answer: buffer.slice(0, 500) }, 'discovery refused this proxy\'s protocol version; retrying, as either side may be upgraded');
      }
      if (skew) {
        // A version mismatch ends when one side is upgraded: retry, slowly, rather than give up for good.
        w.failures = Math.max(w.failures + 1, 16);
        w.retry = setTimeout(() => { w.retry = undefined; this.#open(w); }, this.#backoff(w.failures));
        return;
      }
      if (status >= 400 && status < 500 && status !== 408 && status !== 429) {
        w.refused = true;
        this.#o.logger?.error({ target: w.target, status, answer: buffer.slice(0, 500) }, 'discovery refused the watch; not asking again');
        return;
      }
      // The session closing re-subscribes everything; a lone stream ending is retried on its own.
      if (!this.#connected || this.#session !== session || session.destroyed || session.closed) return;
      w.failures++;
      w.retry = setTimeout(() => { w.retry = undefined; this.#open(w); }, this.#backoff(w.failures));
    });
  }

  #line(w: Watch, line: string): void {
    this.#lastLine = Date.now();
    if (line.trim() === '') return;
    let parsed;
    try {
      parsed = Message.safeParse(JSON.parse(line));
    } catch {
      parsed = undefined;
    }
    if (!parsed?.success) {
      this.badLines++;
      this.#o.logger?.warn({ target: w.target, line: line.slice(0, 200), problem: parsed?.error.issues[0]?.message ?? 'not JSON' }, 'discovery sent a line this proxy cannot read; skipped');
      return;
    }
    w.failures = 0;
    w.deliver(parsed.data);
  }
}
