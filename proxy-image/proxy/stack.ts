// The proxy's two stacks, each read top to bottom as a connection travels
// (as linkerd2-proxy composes its stacks): accept → detect → route → balance
// → endpoint. Every layer is a module with a narrow interface and its own
// test; this file only wires them. compose.ts builds the shared parts
// (destinations, metrics, limits) and calls these.
//
//   layer     outbound                               inbound
//   accept    accept.ts (original destination)       accept.ts
//             route.ts destination() (discovery)
//   detect    detect.ts, serve.ts (h1/ or node h2)   detect.ts, terminate.ts (mTLS), serve.ts
//   route     route.ts (override, profile, split)    inbound-route.ts (authorization)
//   balance   balance.ts (P2C, retries, budgets)     (one endpoint: the app)
//   endpoint  carriers.ts → endpoint.ts              endpoint.ts (plaintext to 127.0.0.1)
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Endpoint } from '../../api/discovery-protocol.ts';
import { AcceptLayer } from './accept.ts';
import type { InboundPolicy } from './authz.ts';
import { BalanceLayer, failed, type Carrier } from './balance.ts';
import { h1Carrier, nodeCarrier } from './carriers.ts';
import { contextOf, countConnection, hostPort, recordOutcome, setContext, spliceTo, type DirectionOptions, type Proxy } from './connection.ts';
import type { Destinations } from './destinations.ts';
import { detect } from './detect.ts';
import { dialPlain, EndpointLayer } from './endpoint.ts';
import { ProxyError, toProxyError } from './errors.ts';
import { relayH1, sendError } from './h1/relay.ts';
import { isUpgradeRequest, ORIG_PROTO, CLIENT_ID } from './headers.ts';
import { appHeaders, droppedFrom, inboundLabels, InboundAuthorizer, type InboundConnection } from './inbound-route.ts';
import { ALPN } from './mesh-tls.ts';
import type { ServerExchange } from './h1/server.ts';
import { relayOverH1, relayOverH2, requestHead, sendProxyError, type DownstreamRequest, type DownstreamResponse, type Outcome } from './relay.ts';
import { OutboundRouter, outboundLabels, type OutboundConnection } from './route.ts';
import { ROUTE_OVERRIDE } from './route-override.ts';
import { HttpServers } from './serve.ts';
import { MtlsTerminator } from './terminate.ts';
import { refuseUpgrade, upgradeOver } from './upgrade.ts';

export interface OutboundStackOptions extends DirectionOptions {
  destinations: Destinations;
  /** How long a new destination's first connection waits for discovery (the choice lasts the connection's life). */
  firstUpdateWaitMs: () => number;
  /** Act on `skein-route` (route-override.ts says when not to). */
  routeOverride: boolean;
}

export function outboundStack(o: OutboundStackOptions): Proxy {
  const { metrics, limits, log } = o;
  const idleMs = limits.idleMs;
  // endpoint: pooled mTLS HTTP/1.1 or one h2 session to a meshed endpoint's proxy, plaintext to the others.
  const endpoints = new EndpointLayer({ tls: o.tls, connectTimeoutMs: o.connectTimeoutMs, idleMs });
  // balance: P2C with breakers, refusing endpoints skipped, retries paid from the destination's budget.
  const balance = new BalanceLayer({ onRetry: (service, route, result) => metrics.retry(service, route, result) });
  // route: discovery's destination per connection; per request, skein-route, the profile's route, the split.
  const router = new OutboundRouter({ destinations: o.destinations, firstUpdateWaitMs: o.firstUpdateWaitMs, honourOverride: o.routeOverride, clusterDomain: 'cluster.local', random: Math.random, log });

  async function request(ctx: OutboundConnection, c: Carrier): Promise<void> {
    const r = await router.route(ctx.destination, c.req);
    const chosen = balance.choose(r.destination, r.balancer);
    const m = metrics.request(outboundLabels(c.req, ctx, chosen instanceof ProxyError ? undefined : chosen.endpoint, r.routeLabel, r.dstService));
    const outcome = chosen instanceof ProxyError ? c.fail(chosen) : await balance.send(chosen, r, c);
    r.release();
    recordOutcome(m, outcome, r.route ? failed(r.route, outcome) : undefined);
    if (outcome.error && outcome.status !== 499) log.debug({ target: r.destination.target, code: outcome.error.code, err: outcome.error.message }, 'outbound request failed');
  }

  /** An Upgrade: balanced once, then its own connection (ALPN http/1.1 between proxies) spliced. */
  async function upgrade(ctx: OutboundConnection, req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const chosen = balance.choose(ctx.destination);
    const m = metrics.request(outboundLabels(req, ctx, chosen instanceof ProxyError ? undefined : chosen.endpoint));
    if (chosen instanceof ProxyError) { m.respond(refuseUpgrade(socket, chosen), { error: chosen.code }); return; }
    const r = await upgradeOver(req, socket, head, async () => { const s = await endpoints.connect(chosen.endpoint, ALPN.http1); chosen.begin(); return s; }, idleMs);
    chosen.done({ ok: r.error === undefined && r.status < 500 });
    m.respond(r.status, r.error ? { error: r.error.code } : undefined);
  }

  /** Opaque TCP, balanced per connection. */
  async function tcp(socket: Socket, ctx: OutboundConnection, unread?: Buffer): Promise<void> {
    const chosen = balance.choose(ctx.destination);
    if (chosen instanceof ProxyError) {
      metrics.refused('outbound', chosen.code === 'no_ready_endpoint' ? 'no_ready_endpoint' : 'no_endpoint');
      socket.destroy();
      return;
    }
    countConnection(metrics, socket, outboundLabels({ headers: {} }, ctx, chosen.endpoint));
    const ok = await spliceTo(socket, () => endpoints.connect(chosen.endpoint, ALPN.opaque), idleMs, unread);
    chosen.done({ ok });
    if (!ok) log.debug({ target: ctx.destination.target }, 'opaque connect failed');
  }

  // detect: HTTP/1.1 on Skein's own server, HTTP/2 on node:http2, anything else opaque TCP.
  const servers = new HttpServers({ direction: 'outbound', metrics, limits }, {
    h1: (ex) => withContext<OutboundConnection>(ex.socket, (ctx) => request(ctx, h1Carrier(ex, endpoints)), () => ex.destroy()),
    node: (req, res) => withContext<OutboundConnection>(req.socket, (ctx) => request(ctx, nodeCarrier(req, res, ctx.h2, endpoints)), () => req.socket.destroy()),
    upgrade: (req, socket, head) => withContext<OutboundConnection>(isUpgradeRequest(req.headers) ? req.socket : undefined, (ctx) => upgrade(ctx, req, socket, head), () => socket.destroy()),
  });

  // accept: the original destination, then what discovery knows of it (unknown: passed through untouched).
  const accept = new AcceptLayer({ direction: 'outbound', metrics, log, originalDestination: o.originalDestination }, (socket, original) => void (async () => {
    const destination = await router.destination(socket, original);
    if (socket.destroyed) return;
    const target = hostPort(original.ip, original.port);
    if (!destination) {
      countConnection(metrics, socket, { direction: 'outbound', authority: target, targetAddr: target, tls: 'false' });
      await spliceTo(socket, () => dialPlain(original.ip, original.port, o.connectTimeoutMs), idleMs);
      return;
    }
    const ctx: OutboundConnection = { destination, original, h2: false };
    if (destination.update?.opaque || o.isOpaquePort(original.port)) { await tcp(socket, ctx); return; }
    const { protocol, unread } = await detect(socket, o.detectTimeoutMs);
    if (socket.destroyed) return;
    if (protocol !== 'http1' && protocol !== 'http2') { await tcp(socket, ctx, unread); return; }
    ctx.h2 = protocol === 'http2';
    setContext(socket, ctx);
    countConnection(metrics, socket, { direction: 'outbound', authority: target, targetAddr: target, tls: 'false' });
    servers.serve(socket, ctx.h2);
  })());

  return {
    accept: (socket) => accept.accept(socket),
    drain: () => servers.drain(),
    get open() { return accept.open; },
    close() { servers.destroy(); endpoints.close(); accept.close(); },
  };
}

export interface InboundStackOptions extends DirectionOptions {
  /** The pod's inbound policy now (swapped as InboundUpdates arrive); absent: everything admitted. */
  policy?: (() => InboundPolicy) | undefined;
  /** A peer's handshake must finish within this. */
  tlsHandshakeTimeoutMs?: number | undefined;
  /** The app's address; 127.0.0.1 in a pod. */
  appHost?: string;
}

/** How long an opaque port waits for a peer's ClientHello before piping plaintext. */
export const OPAQUE_PEEK_MS = 300;

export function inboundStack(o: InboundStackOptions): Proxy {
  const { metrics, limits, log } = o;
  const idleMs = limits.idleMs;
  const appHost = o.appHost ?? '127.0.0.1';
  // endpoint: the app on loopback at the port the client dialled (pooled HTTP/1.1, an h2 session for h2 clients).
  const app = new EndpointLayer({ connectTimeoutMs: o.connectTimeoutMs, idleMs });
  const appEndpoints = new Map<number, Endpoint>();
  const appEndpoint = (port: number): Endpoint => {
    let e = appEndpoints.get(port);
    if (!e) appEndpoints.set(port, e = { ip: appHost, port, protocolHint: 'http', labels: {} });
    return e;
  };
  // route: the pod's authorization policy, per request (per connection for opaque TCP).
  const authz = new InboundAuthorizer(metrics, o.policy);

  /** The raw HTTP/1.1 path: from a peer proxy (ALPN http/1.1) or a plaintext client, to the app over a pooled keep-alive connection. */
  async function h1Request(ctx: InboundConnection, ex: ServerExchange): Promise<void> {
    const m = metrics.request(inboundLabels(ex, ctx, appHost));
    const denied = authz.request(ctx, ex);
    if (denied) { recordOutcome(m, sendError(ex, denied)); return; }
    const extra = appHeaders(ctx);
    recordOutcome(m, await relayH1(ex, app.h1(appEndpoint(ctx.appPort)), { drop: droppedFrom(ctx), ...(extra ? { extra } : {}) }));
  }

  /** node:http's requests: HTTP/2 stays h2 to the app unless it was HTTP/1.1 at its origin (`skein-orig-proto`). */
  async function nodeRequest(ctx: InboundConnection, req: DownstreamRequest, res: DownstreamResponse): Promise<void> {
    const m = metrics.request(inboundLabels(req, ctx, appHost));
    const denied = authz.request(ctx, req);
    if (denied) { recordOutcome(m, sendProxyError(req, res, denied)); return; }
    if (!ctx.clientId && req.headers[ROUTE_OVERRIDE] !== undefined) delete req.headers[ROUTE_OVERRIDE];
    const wasH1 = req.headers[ORIG_PROTO] === 'HTTP/1.1';
    // Only when present: a delete turns the headers object into a slow dictionary.
    if (wasH1 || req.headers[ORIG_PROTO] !== undefined) delete req.headers[ORIG_PROTO];
    if (req.headers[CLIENT_ID] !== undefined) delete req.headers[CLIENT_ID];
    const head = requestHead(req, appHeaders(ctx));
    let outcome: Outcome;
    if (ctx.h2 && !wasH1) {
      try {
        outcome = await relayOverH2(await app.h2(appEndpoint(ctx.appPort)), head, req, res);
      } catch (err) {
        outcome = sendProxyError(req, res, toProxyError(err));
      }
    } else {
      outcome = await relayOverH1(app.plain(appEndpoint(ctx.appPort)), head, req, res);
    }
    recordOutcome(m, outcome);
  }

  async function upgrade(ctx: InboundConnection, req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const m = metrics.request(inboundLabels(req, ctx, appHost));
    const denied = authz.request(ctx, req);
    if (denied) { m.respond(refuseUpgrade(socket, denied), { error: denied.code }); return; }
    delete req.headers[CLIENT_ID];
    if (!ctx.clientId) delete req.headers[ROUTE_OVERRIDE];
    const r = await upgradeOver(req, socket, head, () => dialPlain(appHost, ctx.appPort, o.connectTimeoutMs), idleMs, appHeaders(ctx));
    m.respond(r.status, r.error ? { error: r.error.code } : undefined);
  }

  /** Opaque TCP to the app, if the policy admits the connection. */
  function tcp(socket: Duplex, ctx: InboundConnection, unread?: Buffer): void {
    if (!authz.connection(ctx)) { socket.destroy(); return; }
    void spliceTo(socket, () => dialPlain(appHost, ctx.appPort, o.connectTimeoutMs), idleMs, unread);
  }

  // detect: HTTP/1.1 on Skein's own server, HTTP/2 on node:http2, anything else opaque TCP.
  const servers = new HttpServers({ direction: 'inbound', metrics, limits }, {
    h1: (ex) => withContext<InboundConnection>(ex.socket, (ctx) => h1Request(ctx, ex), () => ex.destroy()),
    node: (req, res) => withContext<InboundConnection>(req.socket, (ctx) => nodeRequest(ctx, req, res), () => req.socket.destroy()),
    upgrade: (req, socket, head) => withContext<InboundConnection>(req.socket, (ctx) => upgrade(ctx, req, socket, head), () => socket.destroy()),
  });
  const counted = (socket: Socket, ctx: InboundConnection): void => {
    const target = hostPort(appHost, ctx.appPort);
    countConnection(metrics, socket, { direction: 'inbound', authority: target, targetAddr: target, tls: ctx.clientId ? 'true' : 'false', ...(ctx.clientId ? { clientId: ctx.clientId } : {}) });
  };
  // detect, TLS: a peer proxy over mutual TLS; ALPN says what follows.
  const mtls = new MtlsTerminator({ tls: o.tls, metrics, log, handshakeTimeoutMs: o.tlsHandshakeTimeoutMs }, (t) => {
    const ctx: InboundConnection = { appPort: t.appPort, clientId: t.clientId, clientIp: t.socket.remoteAddress ?? '', h2: t.protocol === 'http2' };
    setContext(t.socket, ctx);
    counted(t.socket, ctx);
    if (t.protocol === 'opaque') tcp(t.socket, ctx);
    else servers.serve(t.socket, ctx.h2);
  });

  // accept: the original destination is the app's port; on an opaque port only a peer's ClientHello is looked for, and briefly
  // (a plaintext client of a server-speaks-first protocol sends nothing first).
  const accept = new AcceptLayer({ direction: 'inbound', metrics, log, originalDestination: o.originalDestination }, (socket, original) => void (async () => {
    const appPort = original.port;
    const opaque = o.isOpaquePort(appPort);
    const { protocol, unread } = await detect(socket, opaque ? Math.min(o.detectTimeoutMs, OPAQUE_PEEK_MS) : o.detectTimeoutMs);
    if (socket.destroyed) return;
    if (protocol === 'tls') { mtls.terminate(socket, appPort); return; }
    const ctx: InboundConnection = { appPort, clientId: undefined, clientIp: socket.remoteAddress ?? '', h2: protocol === 'http2' };
    counted(socket, ctx);
    if (protocol === 'opaque' || opaque) { tcp(socket, ctx, unread); return; }
    setContext(socket, ctx);
    servers.serve(socket, ctx.h2);
  })());

  return {
    accept: (socket) => accept.accept(socket),
    drain: () => servers.drain(),
    get open() { return accept.open; },
    close() { servers.destroy(); app.close(); accept.close(); },
  };
}

/** Runs `then` with the connection's context, or calls `destroy` when the socket has none (it never came through accept). */
function withContext<T>(socket: object | null | undefined, then: (ctx: T) => Promise<void>, destroy: () => void): void {
  const ctx = contextOf<T>(socket);
  if (ctx === undefined) destroy();
  else void then(ctx);
}
