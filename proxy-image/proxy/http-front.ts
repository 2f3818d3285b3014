// The HTTP/2 server a proxy feeds detected connections into (it never
// listens itself; HTTP/1.1 is Skein's own, h1/), with the limits that keep a
// bad client from hurting the proxy: header list size and count, session
// memory, idle sessions, and protocol errors counted, never thrown.
import http2 from 'node:http2';
import type { Duplex } from 'node:stream';
import type { Direction, ProxyMetrics } from './metrics.ts';
import type { DownstreamRequest, DownstreamResponse } from './relay.ts';
import { DEFAULT_LIMITS, type ProxyLimits } from '../../api/sidecar.ts';

export type HttpLimits = Pick<ProxyLimits, 'maxHeaderBytes' | 'headersTimeoutMs' | 'idleMs'>;

export const DEFAULT_HTTP_LIMITS: HttpLimits = { maxHeaderBytes: DEFAULT_LIMITS.maxHeaderBytes, headersTimeoutMs: DEFAULT_LIMITS.headersTimeoutMs, idleMs: DEFAULT_LIMITS.idleMs };

export interface HttpFrontOptions {
  direction: Direction;
  metrics: ProxyMetrics;
  limits: HttpLimits;
  onRequest: (req: DownstreamRequest, res: DownstreamResponse) => void;
}

export interface HttpFront {
  /** Hands a connection that starts with the HTTP/2 preface (or negotiated h2). */
  http2(socket: Duplex): void;
  /** Sends GOAWAY, so in-flight streams finish and clients reconnect elsewhere. */
  drain(): void;
  /** Connections still open. */
  readonly open: number;
  destroy(): void;
}

export function createHttpFront(o: HttpFrontOptions): HttpFront {
  const sockets = new Set<Duplex>();
  const sessions = new Set<http2.ServerHttp2Session>();
  const track = (s: Duplex) => { sockets.add(s); s.once('close', () => sockets.delete(s)); };

  const h2 = http2.createServer({
    maxHeaderListPairs: 256, maxSessionMemory: 32,
    settings: { maxHeaderListSize: o.limits.maxHeaderBytes, initialWindowSize: 1 << 20 },
  }, o.onRequest);
  h2.on('checkContinue', o.onRequest);
  h2.on('session', (session) => {
    sessions.add(session);
    session.once('close', () => sessions.delete(session));
    session.setTimeout(o.limits.idleMs, () => session.close());
    // A client that ended its side can send no more frames (not even a
    // WINDOW_UPDATE): finish its streams and close, rather than hold the
    // half-open connection until the idle timeout.
    session.socket.once('end', () => session.close());
    session.on('error', () => {
      o.metrics.protocolError(o.direction, 'h2');
      session.destroy();
    });
  });
  h2.on('sessionError', () => o.metrics.protocolError(o.direction, 'h2'));

  return {
    http2(socket) { track(socket); h2.emit('connection', socket); },
    drain() {
      for (const s of sessions) s.close();
    },
    get open() { return sockets.size; },
    destroy() {
      for (const s of sessions) s.destroy();
      for (const s of sockets) s.destroy();
    },
  };
}
