// The raw HTTP/1.1 front a proxy direction feeds detected connections into
// (it never listens itself): server.ts per connection, the connections kept
// for drain and shutdown, malformed requests counted like the HTTP/2 front
// (http-front.ts) counts its protocol errors.
import type { Duplex } from 'node:stream';
import type { Direction, ProxyMetrics } from '../metrics.ts';
import type { HttpLimits } from '../http-front.ts';
import { DEFAULT_H1_LIMITS } from './codec.ts';
import { H1ServerConnection, type H1ServerLimits, type ServerExchange } from './server.ts';

export interface H1FrontOptions {
  direction: Direction;
  metrics: ProxyMetrics;
  limits: HttpLimits;
  onRequest: (ex: ServerExchange) => void;
}

export interface H1Front {
  serve(socket: Duplex): void;
  drain(): void;
  readonly open: number;
  destroy(): void;
}

export function serverLimits(l: HttpLimits): H1ServerLimits {
  return { maxHeaderBytes: l.maxHeaderBytes, maxHeaders: DEFAULT_H1_LIMITS.maxHeaders, headersTimeoutMs: l.headersTimeoutMs, idleMs: l.idleMs };
}

export function createH1Front(o: H1FrontOptions): H1Front {
  const conns = new Set<H1ServerConnection>();
  const limits = serverLimits(o.limits);
  const onMalformed = () => {
    o.metrics.refused(o.direction, 'malformed_http');
    o.metrics.protocolError(o.direction, 'http1');
  };
  return {
    serve(socket) {
      const c: H1ServerConnection = new H1ServerConnection(socket, limits, {
        onRequest: o.onRequest,
        onMalformed,
      });
      conns.add(c);
      socket.once('close', () => conns.delete(c));
    },
    drain() { for (const c of conns) c.drain(); },
    get open() { return conns.size; },
    destroy() { for (const c of conns) c.socket.destroy(); },
  };
}
