// The HTTP servers below detection in both stacks (stack.ts): a connection
// detected as HTTP/1.x goes to Skein's own HTTP/1.1 server (h1/front.ts),
// Upgrade and Expect: 100-continue requests included; one detected or
// negotiated as HTTP/2 goes to node:http2 (http-front.ts). The servers turn
// bytes into requests; what to do with each is the handlers'.
import type { Duplex } from 'node:stream';
import { createHttpFront, type HttpFront, type HttpLimits } from './http-front.ts';
import { createH1Front, type H1Front } from './h1/front.ts';
import type { ServerExchange } from './h1/server.ts';
import type { Direction, ProxyMetrics } from './metrics.ts';
import type { DownstreamRequest, DownstreamResponse } from './relay.ts';

export interface HttpHandlers {
  /** A request read by the raw HTTP/1.1 server (`ex.upgrade`: an Upgrade). */
  h1: (ex: ServerExchange) => void;
  /** A request read by node:http2. */
  node: (req: DownstreamRequest, res: DownstreamResponse) => void;
}

export interface HttpServersOptions {
  direction: Direction;
  metrics: ProxyMetrics;
  limits: HttpLimits;
}

export class HttpServers {
  readonly #node: HttpFront;
  readonly #h1: H1Front;

  constructor(o: HttpServersOptions, handlers: HttpHandlers) {
    this.#node = createHttpFront({ ...o, onRequest: handlers.node });
    this.#h1 = createH1Front({ ...o, onRequest: handlers.h1 });
  }

  /** Serves a connection whose first bytes are HTTP/1.x (`h2` false) or HTTP/2. */
  serve(socket: Duplex, h2: boolean): void {
    if (h2) this.#node.http2(socket);
    else this.#h1.serve(socket);
  }

  /** Stops keep-alive reuse and sends GOAWAY, so in-flight requests finish and clients reconnect elsewhere. */
  drain(): void {
    this.#node.drain();
    this.#h1.drain();
  }

  destroy(): void {
    this.#node.destroy();
    this.#h1.destroy();
  }
}
