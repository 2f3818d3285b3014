// The proxy's two stacks, each read top to bottom as a connection travels
// (as linkerd2-proxy composes its stacks): accept → detect → route → balance
// → endpoint. Every layer is a module with a narrow interface and its own
// test; this file only wires them, and outbound-flow.ts / inbound-flow.ts
// run them in order for each request, upgrade or TCP connection. compose.ts
// builds the shared parts (destinations, metrics, limits) and calls these.
//
//   layer     outbound                                 inbound
//   accept    accept.ts, route.ts destination()        accept.ts
//   detect    detect.ts → serve.ts (h1/, node:http2)   detect.ts → terminate.ts (mTLS) → serve.ts
//   route     route.ts (skein-route, profile, split)   inbound-route.ts (authorization)
//   balance   balance.ts (P2C, breakers, retries)      — (one endpoint: the app)
//   endpoint  carriers.ts → endpoint.ts (mTLS pools)   endpoint.ts (plaintext to the app)
import type { InboundPolicy } from './authz.ts';
import { AcceptLayer } from './accept.ts';
import { BalanceLayer } from './balance.ts';
import { h1Carrier, nodeCarrier } from './carriers.ts';
import { contextOf, setContext, type DirectionOptions, type Proxy } from './connection.ts';
import type { Destinations } from './destinations.ts';
import { detect } from './detect.ts';
import { EndpointLayer } from './endpoint.ts';
import { InboundFlow } from './inbound-flow.ts';
import { InboundAuthorizer, type InboundConnection } from './inbound-route.ts';
import { OutboundFlow } from './outbound-flow.ts';
import { OutboundRouter, type OutboundConnection } from './route.ts';
import { HttpServers } from './serve.ts';
import { Mirror } from './mirror.ts';
import { MtlsTerminator } from './terminate.ts';

export interface OutboundStackOptions extends DirectionOptions {
  destinations: Destinations;
  /** How long a new destination's first connection waits for discovery (the choice lasts the connection's life). */
  firstUpdateWaitMs: () => number;
  /** Act on `skein-route` (route-override.ts says when not to). */
  routeOverride: boolean;
}

export function outboundStack(o: OutboundStackOptions): Proxy {
  const { metrics, limits, log } = o;
  const endpoints = new EndpointLayer({ tls: o.tls, connectTimeoutMs: o.connectTimeoutMs, idleMs: limits.idleMs });
  const mirror = new Mirror({ endpoints, onResult: (service, result) => metrics.mirrored(service, result) });
  const balance = new BalanceLayer({ onRetry: (service, route, result) => metrics.retry(service, route, result), mirror });
  const router = new OutboundRouter({ destinations: o.destinations, firstUpdateWaitMs: o.firstUpdateWaitMs, honourOverride: o.routeOverride, clusterDomain: 'cluster.local', random: Math.random, log });
  const flow = new OutboundFlow({ router, balance, endpoints, metrics, log, idleMs: limits.idleMs, connectTimeoutMs: o.connectTimeoutMs });
  const servers = new HttpServers({ direction: 'outbound', metrics, limits }, {
    h1: (ex) => withContext<OutboundConnection>(ex.socket, (ctx) => (ex.upgrade ? flow.upgrade(ctx, ex) : flow.request(ctx, h1Carrier(ex, endpoints))), () => ex.destroy()),
    node: (req, res) => withContext<OutboundConnection>(req.socket, (ctx) => flow.request(ctx, nodeCarrier(req, res, ctx.h2, endpoints)), () => req.socket.destroy()),
  });
  const accept = new AcceptLayer({ direction: 'outbound', metrics, log, originalDestination: o.originalDestination }, (socket, original) => void (async () => {
    const destination = await router.destination(socket, original);
    if (socket.destroyed) return;
    if (!destination) { await flow.passThrough(socket, original); return; }
    const ctx: OutboundConnection = { destination, original, h2: false };
    if (destination.update?.opaque || o.isOpaquePort(original.port)) { await flow.tcp(socket, ctx); return; }
    const { protocol, unread } = await detect(socket, o.detectTimeoutMs);
    if (socket.destroyed) return;
    if (protocol !== 'http1' && protocol !== 'http2') { await flow.tcp(socket, ctx, unread); return; }
    ctx.h2 = protocol === 'http2';
    setContext(socket, ctx);
    flow.counted(socket, original);
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
  const app = new EndpointLayer({ connectTimeoutMs: o.connectTimeoutMs, idleMs: limits.idleMs });
  const authz = new InboundAuthorizer(metrics, o.policy);
  const flow = new InboundFlow({ authz, app, appHost: o.appHost ?? '127.0.0.1', metrics, idleMs: limits.idleMs, connectTimeoutMs: o.connectTimeoutMs });
  const servers = new HttpServers({ direction: 'inbound', metrics, limits }, {
    h1: (ex) => withContext<InboundConnection>(ex.socket, (ctx) => (ex.upgrade ? flow.upgrade(ctx, ex) : flow.h1(ctx, ex)), () => ex.destroy()),
    node: (req, res) => withContext<InboundConnection>(req.socket, (ctx) => flow.node(ctx, req, res), () => req.socket.destroy()),
  });
  const mtls = new MtlsTerminator({ tls: o.tls, metrics, log, handshakeTimeoutMs: o.tlsHandshakeTimeoutMs }, (t) => {
    const ctx: InboundConnection = { appPort: t.appPort, clientId: t.clientId, clientIp: t.socket.remoteAddress ?? '', h2: t.protocol === 'http2' };
    setContext(t.socket, ctx);
    flow.counted(t.socket, ctx);
    if (t.protocol === 'opaque') flow.tcp(t.socket, ctx);
    else servers.serve(t.socket, ctx.h2);
  });
  const accept = new AcceptLayer({ direction: 'inbound', metrics, log, originalDestination: o.originalDestination }, (socket, original) => void (async () => {
    // On an opaque port only a peer's ClientHello is looked for, and briefly: a plaintext client of a server-speaks-first protocol sends nothing.
    const opaque = o.isOpaquePort(original.port);
    const { protocol, unread } = await detect(socket, opaque ? Math.min(o.detectTimeoutMs, OPAQUE_PEEK_MS) : o.detectTimeoutMs);
    if (socket.destroyed) return;
    if (protocol === 'tls') { mtls.terminate(socket, original.port); return; }
    const ctx: InboundConnection = { appPort: original.port, clientId: undefined, clientIp: socket.remoteAddress ?? '', h2: protocol === 'http2' };
    flow.counted(socket, ctx);
    if (protocol === 'opaque' || opaque) { flow.tcp(socket, ctx, unread); return; }
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
