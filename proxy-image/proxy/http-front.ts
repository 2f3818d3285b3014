// The HTTP servers a proxy feeds detected connections into (they never listen
// themselves): one for HTTP/1.1, one for HTTP/2 prior knowledge, with the
// limits that keep a bad client from hurting the proxy: header size,
// slow headers, idle keep-alive, and malformed requests answered with 400
// (431 for oversized headers), counted, and never thrown.
import http, { type IncomingMessage } from 'node:http';
import http2 from 'node:http2';
import type { Duplex } from 'node:stream';
import type { Socket } from 'node:net';
import type { Direction, ProxyMetrics } from './metrics.ts';
import type { DownstreamRequest, DownstreamResponse } from './relay.ts';
import { PROXY_ERROR } from './headers.ts';
import { DEFAULT_LIMITS, type ProxyLimits } from '../../api/sidecar.ts';

export type HttpLimits = Pick<ProxyLimits, 'maxHeaderBytes' | 'headersTimeoutMs' | 'idleMs'>;

export const DEFAULT_HTTP_LIMITS: HttpLimits = { maxHeaderBytes: DEFAULT_LIMITS.maxHeaderBytes, headersTimeoutMs: DEFAULT_LIMITS.headersTimeoutMs, idleMs: DEFAULT_LIMITS.idleMs };

export interface HttpFrontOptions {
  direction: Direction;
  metrics: ProxyMetrics;
  limits: HttpLimits;
  onRequest: (req: DownstreamRequest, res: DownstreamResponse) => void;
  onUpgrade: (req: IncomingMessage, socket: Duplex, head: Buffer) => void;
}

export interface HttpFront {
  /** Hands a connection whose first bytes are an HTTP/1.x request. */
  http1(socket: Duplex): void;
  /** Hands a connection that starts with the HTTP/2 preface (or negotiated h2). */
  http2(socket: Duplex): void;
  /** Stops keep-alive reuse and sends GOAWAY, so in-flight requests finish and clients reconnect elsewhere. */
  drain(): void;
  /** Connections still open. */
  readonly open: number;
  destroy(): void;
}

/** The raw answer to a request Node's parser rejected; pure so tests can read it. */
export function clientErrorResponse(code: string | undefined): string {
  const [status, reason] = code === 'HPE_HEADER_OVERFLOW' ? [431, 'Request Header Fields Too Large'] : code === 'ERR_HTTP_REQUEST_TIMEOUT' ? [408, 'Request Timeout'] : [400, 'Bad Request'];
  return `HTTP/1.1 ${status} ${reason}\r\n${PROXY_ERROR}: malformed_request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n`;
}

export function createHttpFront(o: HttpFrontOptions): HttpFront {
  const sockets = new Set<Duplex>();
  const sessions = new Set<http2.ServerHttp2Session>();
  const track = (s: Duplex) => { sockets.add(s); s.once('close', () => sockets.delete(s)); };

  const h1 = http.createServer({
    maxHeaderSize: o.limits.maxHeaderBytes, headersTimeout: o.limits.headersTimeoutMs, requestTimeout: 0,
    keepAliveTimeout: o.limits.idleMs, connectionsCheckingInterval: 1_000,
  }, o.onRequest);
  h1.on('checkContinue', o.onRequest);
  // Node starts the checks behind headersTimeout (slowloris) and
  // closeIdleConnections() (drain) on 'listening'; this server never listens
  // (connections are handed to it), so without this neither ever runs.
  h1.emit('listening');
  h1.on('upgrade', o.onUpgrade);
  h1.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    o.metrics.refused(o.direction, 'malformed_http');
    o.metrics.protocolError(o.direction, 'http1');
    // Closed once the answer is written: connections are half-open capable, so
    // a bare end() would wait for a client that never reads (a slowloris) to close.
    if (socket.writable && !(socket as Partial<Socket>).destroyed) socket.end(clientErrorResponse(err.code), () => socket.destroy());
    else socket.destroy();
  });

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
    http1(socket) { track(socket); h1.emit('connection', socket); },
    http2(socket) { track(socket); h2.emit('connection', socket); },
    drain() {
      h1.closeIdleConnections();
      for (const s of sessions) s.close();
    },
    get open() { return sockets.size; },
    destroy() {
      for (const s of sessions) s.destroy();
      for (const s of sockets) s.destroy();
    },
  };
}
