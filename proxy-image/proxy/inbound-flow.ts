// What the inbound stack does with each unit of work once detection has
// named it (stack.ts wires the layers; this runs them in order): a request
// is authorized and goes to the app at the port the client dialled (HTTP/1.1
// unless it arrived as HTTP/2 and was HTTP/2 at its origin: no
// `skein-orig-proto: HTTP/1.1` from the client's proxy), counted; an
// Upgrade gets a connection of its own and a tunnel; opaque TCP is admitted once.
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Endpoint } from '../../api/discovery-protocol.ts';
import { countConnection, hostPort, recordOutcome, spliceTo } from './connection.ts';
import { dialPlain, type EndpointLayer } from './endpoint.ts';
import { toProxyError } from './errors.ts';
import { relayH1, sendError } from './h1/relay.ts';
import type { ServerExchange } from './h1/server.ts';
import { CLIENT_ID, ORIG_PROTO } from './headers.ts';
import { appHeaders, droppedFrom, inboundLabels, type InboundAuthorizer, type InboundConnection } from './inbound-route.ts';
import type { ProxyMetrics } from './metrics.ts';
import { relayOverH1, relayOverH2, requestHead, sendProxyError, type DownstreamRequest, type DownstreamResponse, type Outcome } from './relay.ts';
import { ROUTE_OVERRIDE } from './route-override.ts';
import { tunnel } from './h1/tunnel.ts';

export interface InboundFlowParts {
  authz: InboundAuthorizer;
  /** The app's connections (plaintext, on appHost). */
  app: EndpointLayer;
  appHost: string;
  metrics: ProxyMetrics;
  idleMs: number;
  connectTimeoutMs: number;
}

export class InboundFlow {
  readonly #p: InboundFlowParts;
  /** The app as an endpoint, per port: the endpoint layer keeps its connections per object. */
  readonly #appEndpoints = new Map<number, Endpoint>();

  constructor(p: InboundFlowParts) {
    this.#p = p;
  }

  /** The raw HTTP/1.1 path: from a peer proxy (ALPN http/1.1) or a plaintext client, to the app over a pooled keep-alive connection. */
  async h1(ctx: InboundConnection, ex: ServerExchange): Promise<void> {
    const m = this.#p.metrics.request(inboundLabels(ex, ctx, this.#p.appHost));
    const denied = this.#p.authz.request(ctx, ex);
    if (denied) { recordOutcome(m, sendError(ex, denied)); return; }
    const extra = appHeaders(ctx);
    recordOutcome(m, await relayH1(ex, this.#p.app.h1(this.#appEndpoint(ctx.appPort)), { drop: droppedFrom(ctx), ...(extra ? { extra } : {}) }));
  }

  /** node:http's requests: HTTP/2 stays h2 to the app unless it was HTTP/1.1 at its origin. */
  async node(ctx: InboundConnection, req: DownstreamRequest, res: DownstreamResponse): Promise<void> {
    const m = this.#p.metrics.request(inboundLabels(req, ctx, this.#p.appHost));
    const denied = this.#p.authz.request(ctx, req);
    if (denied) { recordOutcome(m, sendProxyError(req, res, denied)); return; }
    // Only a meshed client may steer routing (route-override.ts): a plaintext one's header never reaches the app.
    if (!ctx.clientId && req.headers[ROUTE_OVERRIDE] !== undefined) delete req.headers[ROUTE_OVERRIDE];
    const wasH1 = req.headers[ORIG_PROTO] === 'HTTP/1.1';
    // Only when present: a delete turns the headers object into a slow dictionary.
    if (wasH1 || req.headers[ORIG_PROTO] !== undefined) delete req.headers[ORIG_PROTO];
    if (req.headers[CLIENT_ID] !== undefined) delete req.headers[CLIENT_ID];
    const head = requestHead(req, appHeaders(ctx));
    const app = this.#appEndpoint(ctx.appPort);
    let outcome: Outcome;
    if (ctx.h2 && !wasH1) {
      try {
        outcome = await relayOverH2(await this.#p.app.h2(app), head, req, res);
      } catch (err) {
        outcome = sendProxyError(req, res, toProxyError(err));
      }
    } else {
      outcome = await relayOverH1(this.#p.app.plain(app), head, req, res);
    }
    recordOutcome(m, outcome);
  }

  /** An Upgrade from a peer proxy or a plaintext client: its own connection to the app, a tunnel after the 101. */
  async upgrade(ctx: InboundConnection, ex: ServerExchange): Promise<void> {
    const m = this.#p.metrics.request(inboundLabels(ex, ctx, this.#p.appHost));
    const denied = this.#p.authz.request(ctx, ex);
    if (denied) { recordOutcome(m, sendError(ex, denied)); return; }
    const extra = appHeaders(ctx);
    recordOutcome(m, await tunnel(ex, () => this.#dialApp(ctx), { idleMs: this.#p.idleMs, drop: droppedFrom(ctx), ...(extra ? { extra } : {}) }));
  }

  /** Opaque TCP to the app, if the policy admits the connection. */
  tcp(socket: Duplex, ctx: InboundConnection, unread?: Buffer): void {
    if (!this.#p.authz.connection(ctx)) { socket.destroy(); return; }
    void spliceTo(socket, () => this.#dialApp(ctx), this.#p.idleMs, unread);
  }

  /** Counts the connection in the TCP metrics (tls and client_id from the peer's verified identity). */
  counted(socket: Socket, ctx: InboundConnection): void {
    const target = hostPort(this.#p.appHost, ctx.appPort);
    countConnection(this.#p.metrics, socket, { direction: 'inbound', authority: target, targetAddr: target, tls: ctx.clientId ? 'true' : 'false', ...(ctx.clientId ? { clientId: ctx.clientId } : {}) });
  }

  #dialApp(ctx: InboundConnection): Promise<Socket> {
    return dialPlain(this.#p.appHost, ctx.appPort, this.#p.connectTimeoutMs);
  }

  #appEndpoint(port: number): Endpoint {
    let e = this.#appEndpoints.get(port);
    if (!e) this.#appEndpoints.set(port, e = { ip: this.#p.appHost, port, protocolHint: 'http', labels: {} });
    return e;
  }
}
