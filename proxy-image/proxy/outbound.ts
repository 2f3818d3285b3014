// The outbound proxy (4140): every connection the app opens arrives here via
// iptables. Its original destination names a discovery target; HTTP is then
// balanced per request (opaque TCP per connection) over the target's
// endpoints (balance.ts), reached by endpoint.ts: mutual TLS to meshed
// endpoints (HTTP/1.1 over pooled keep-alive connections, HTTP/2 over one
// shared session), plaintext to the others. Destinations discovery does not know (or does not
// answer for in time) are passed through untouched.
import http, { type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Endpoint } from '../../api/discovery-protocol.ts';
import type { OriginalDestination } from './original-dst.ts';
import type { Pick } from './balancer.ts';
import type { TrafficLabels } from './metrics.ts';
import { admit, contextOf, countConnection, hostPort, recordOutcome, setContext, splice, type DirectionOptions, type Proxy } from './connection.ts';
import { detect } from './detect.ts';
import type { Destination, Destinations } from './destinations.ts';
import { ProxyError, toProxyError } from './errors.ts';
import { authorityOf, isUpgradeRequest, ORIG_PROTO } from './headers.ts';
import { createHttpFront, type HttpFront } from './http-front.ts';
import { ALPN } from './mesh-tls.ts';
import { hasRequestBody, relayOverH1, relayOverH2, requestHead, sendProxyError, type DownstreamRequest, type DownstreamResponse, type Outcome, type RelayOptions } from './relay.ts';
import { replayableBody, RequestRetries } from './retries.ts';
import { DEFAULT_ROUTE, isFailure, matchRoute, type CompiledRoute } from './routes.ts';
import { overrideTarget, parseRouteOverride, ROUTE_OVERRIDE } from './route-override.ts';
import { drawBackend } from './split.ts';
import type { Balancer } from './balancer.ts';
import { BalanceLayer } from './balance.ts';
import { dialPlain, EndpointLayer } from './endpoint.ts';
import { createH1Front } from './h1/front.ts';
import { relayH1, sendError } from './h1/relay.ts';
import type { ServerExchange } from './h1/server.ts';
import { relayUpgrade, refuseUpgrade } from './upgrade.ts';

export interface OutboundOptions extends DirectionOptions {
  destinations: Destinations;
  /**
   * How long a new destination's first connection waits for discovery's
   * answer before it is passed through un-meshed, asked per connection. The
   * choice lasts for the connection's life (a keep-alive client keeps it for
   * good), so main.ts waits longer while discovery is connected.
   */
  firstUpdateWaitMs: () => number;
  responseTimeoutMs?: number;
  /** Where to dial an endpoint; the default is the endpoint itself (its pod's iptables sends meshed traffic to its proxy). */
  dialAddress?: (e: Endpoint) => { host: string; port: number };
  /** Act on `skein-route` (route-override.ts says when not to: a pod with skipped inbound ports). Default true. */
  routeOverride?: boolean;
  /** For `skein-route` short names. Default cluster.local. */
  clusterDomain?: string;
  random?: () => number;
}

/** Tells the far side the client spoke HTTP/1.1 (the request still rides the peers' h2 session). */
const FROM_HTTP1 = { [ORIG_PROTO]: 'HTTP/1.1' } as const;

/**
 * What a request's protocol path gives the shared routing, balancing and
 * retry logic: the raw HTTP/1.1 path (h1/) and node:http's (HTTP/2, and the
 * Upgrade and 100-continue requests h1/ hands over) differ only here.
 */
interface Carrier {
  req: { method?: string | undefined; url?: string | undefined; headers: IncomingHttpHeaders };
  hasBody: boolean;
  readBody(): Promise<Buffer>;
  fail(err: ProxyError): Outcome;
  forward(chosen: Pick<Endpoint>, options: RelayOptions, retries: RequestRetries): Promise<Outcome>;
}

interface ConnectionContext {
  destination: Destination;
  original: OriginalDestination;
  /** The client spoke HTTP/2 to us. */
  h2: boolean;
}

export function createOutbound(o: OutboundOptions): Proxy {
  const endpoints = new EndpointLayer({ tls: o.tls, connectTimeoutMs: o.connectTimeoutMs, idleMs: o.limits.idleMs, ...(o.dialAddress ? { dialAddress: o.dialAddress } : {}) });
  const balance = new BalanceLayer();
  const plainAgent = new http.Agent({ keepAlive: true, maxFreeSockets: 256, timeout: o.limits.idleMs });
  const open = new Set<Socket>();
  const relay: RelayOptions = o.responseTimeoutMs === undefined ? {} : { responseTimeoutMs: o.responseTimeoutMs };
  const random = o.random ?? Math.random;
  const clusterDomain = o.clusterDomain ?? 'cluster.local';
  const honourOverride = o.routeOverride ?? true;

  const front: HttpFront = createHttpFront({
    direction: 'outbound', metrics: o.metrics, limits: o.limits,
    onRequest: (req, res) => { void onRequest(req, res); },
    onUpgrade: (req, socket, head) => { void onUpgrade(req, socket, head); },
  });
  const h1 = createH1Front({
    direction: 'outbound', metrics: o.metrics, limits: o.limits,
    onRequest: (ex) => { void onH1Request(ex); },
    onHandOff: (socket) => front.http1(socket),
  });

  function labels(req: { headers: IncomingHttpHeaders }, ctx: ConnectionContext, e: Endpoint | undefined, route?: string, dstService?: string): TrafficLabels {
    return {
      ...(route === undefined ? {} : { route }),
      ...(dstService === undefined ? {} : { dstService }),
      direction: 'outbound',
      authority: authorityOf(req.headers) ?? hostPort(ctx.original.ip, ctx.original.port),
      targetAddr: e ? hostPort(e.ip, e.port) : hostPort(ctx.original.ip, ctx.original.port),
      tls: e?.identity ? 'true' : 'no_identity',
      ...(e?.identity ? { serverId: e.identity } : {}),
      ...(e ? { dst: e.labels } : {}),
    };
  }

  /** The balancer a request uses: a split backend drawn by weight when the split applies to it, else the destination's own. */
  function balancerFor(d: Destination, req: Carrier['req']): { balancer: Balancer<Endpoint>; service: string | undefined } {
    if (d.backends.length === 0 || !d.splits(req.method ?? 'GET', req.url ?? '/', req.headers)) return { balancer: d.balancer, service: d.service };
    const i = drawBackend(d.backends, random);
    const b = i < 0 ? undefined : d.backends[i];
    return b ? { balancer: b.balancer, service: b.service } : { balancer: d.balancer, service: d.service };
  }

  const choose = (d: Destination, balancer?: Balancer<Endpoint>, avoid?: Endpoint) => balance.choose(d, balancer, avoid);

  /** The destination `skein-route` names for this request, when it names this one's Service; released when the request ends. */
  async function overridden(req: Carrier['req'], d: Destination): Promise<{ destination: Destination; release: () => void } | undefined> {
    const parsed = parseRouteOverride(req.headers[ROUTE_OVERRIDE]);
    const target = parsed && overrideTarget(parsed, d.update, clusterDomain);
    if (!target) return undefined;
    const acquired = o.destinations.acquire(target);
    if (await acquired.destination.answered(o.firstUpdateWaitMs()) && acquired.destination.update?.exists) return acquired;
    acquired.release();
    o.log.debug({ target }, 'skein-route names a Service discovery does not know; ignored');
    return undefined;
  }

  function onRequest(req: DownstreamRequest, res: DownstreamResponse): Promise<void> {
    const ctx = contextOf<ConnectionContext>(req.socket);
    if (!ctx) { req.socket.destroy(); return Promise.resolve(); }
    return handle(ctx, {
      req, hasBody: hasRequestBody(req),
      readBody: () => readBody(req),
      fail: (err) => sendProxyError(req, res, err),
      forward: (chosen, options, retries) => forward(chosen, ctx, req, res, options, retries),
    });
  }

  /** The raw HTTP/1.1 path: the request's head and body as bytes, to a pooled keep-alive connection. */
  function onH1Request(ex: ServerExchange): Promise<void> {
    const ctx = contextOf<ConnectionContext>(ex.socket);
    if (!ctx) { ex.destroy(); return Promise.resolve(); }
    return handle(ctx, {
      req: ex, hasBody: ex.hasBody,
      readBody: () => new Promise((resolve) => {
        const chunks: Buffer[] = [];
        ex.readBody((b) => { chunks.push(b); return true; }, () => resolve(Buffer.concat(chunks)));
      }),
      fail: (err) => sendError(ex, err),
      forward: (chosen, options) => {
        chosen.begin();
        return relayH1(ex, endpoints.h1(chosen.endpoint), options);
      },
    });
  }

  async function handle(ctx: ConnectionContext, c: Carrier): Promise<void> {
    const req = c.req;
    const override = honourOverride && req.headers[ROUTE_OVERRIDE] !== undefined ? await overridden(req, ctx.destination) : undefined;
    const d = override?.destination ?? ctx.destination;
    const route = d.profile ? matchRoute(d.profile, req.method ?? 'GET', req.url ?? '/') : undefined;
    const routeLabel = d.profile ? route?.name ?? DEFAULT_ROUTE : undefined;
    const { balancer, service } = balancerFor(d, req);
    const chosen = choose(d, balancer);
    const endpoint = chosen instanceof ProxyError ? undefined : chosen.endpoint;
    const m = o.metrics.request(labels(req, ctx, endpoint, routeLabel, d.backends.length > 0 || override ? service : undefined));
    let outcome: Outcome;
    if (chosen instanceof ProxyError) {
      outcome = c.fail(chosen);
    } else {
      outcome = await attempts(chosen, balancer, d, route, routeLabel, c);
    }
    override?.release();
    recordOutcome(m, outcome, route ? failed(route, outcome) : undefined);
    if (outcome.error && outcome.status !== 499) o.log.debug({ target: d.target, code: outcome.error.code, err: outcome.error.message }, 'outbound request failed');
  }

  const failed = (route: CompiledRoute | undefined, outcome: Outcome): boolean => outcome.error !== undefined || isFailure(route, outcome.status, outcome.grpcStatus);

  /**
   * Sends the request, and again to another endpoint when retries.ts allows
   * it: a failure the app never saw (connect, TLS, the peer proxy unable to
   * reach its app) once on any route, a classified failure on a retryable
   * route, each retry paid from the destination's budget. Bodies are
   * buffered (≤ 64 KiB, declared length) only where a retry could need them.
   */
  async function attempts(first: Pick<Endpoint>, balancer: Balancer<Endpoint>, d: Destination, route: CompiledRoute | undefined, routeLabel: string | undefined, c: Carrier): Promise<Outcome> {
    const replay = c.req.headers.expect === undefined ? replayableBody(c.req.headers, c.hasBody) : false;
    const retries = new RequestRetries(d.budget, route, replay !== false);
    // One options object per request, the same shape every time.
    const options: RelayOptions = {
      responseTimeoutMs: route?.timeoutMs ?? relay.responseTimeoutMs,
      body: replay === 'buffer' ? await c.readBody() : undefined,
      retry: retries,
    };
    d.budget.deposit();
    let chosen = first;
    for (;;) {
      const outcome = await c.forward(chosen, options, retries);
      chosen.done({ ok: !failed(route, outcome) });
      if (retries.budgetExhausted) o.metrics.retry(d.service ?? d.target, routeLabel ?? DEFAULT_ROUTE, 'budget_exhausted');
      if (!outcome.retried || retries.cause === undefined) return outcome;
      if (retries.cause === 'not-sent') balance.refused(chosen.endpoint);
      o.metrics.retry(d.service ?? d.target, routeLabel ?? DEFAULT_ROUTE, 'retried');
      const next = choose(d, balancer, chosen.endpoint);
      if (next instanceof ProxyError) return c.fail(next);
      chosen = next;
      retries.next();
    }
  }

  /** `retries.unsent()` is asked when the connection to the endpoint failed before the request left: true means try elsewhere. */
  async function forward(chosen: Pick<Endpoint>, ctx: ConnectionContext, req: DownstreamRequest, res: DownstreamResponse, options: RelayOptions, retries: RequestRetries): Promise<Outcome> {
    const e = chosen.endpoint;
    // A meshed endpoint's proxy gets HTTP/1.1 here too (an Expect: 100-continue request) over the peers' h2 session; the header tells it to speak HTTP/1.1 to its app.
    if (e.identity || ctx.h2) {
      const head = requestHead(req, ctx.h2 ? undefined : FROM_HTTP1);
      try {
        const session = await endpoints.h2(e);
        chosen.begin();
        return await relayOverH2(session, head, req, res, options);
      } catch (err) {
        return unsent(req, res, toProxyError(err), retries);
      }
    }
    return relayOverH1({ agent: plainAgent, ...(o.dialAddress?.(e) ?? { host: e.ip, port: e.port }) }, requestHead(req), req, res, options);
  }


  async function onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const ctx = contextOf<ConnectionContext>(req.socket);
    if (!ctx || !isUpgradeRequest(req.headers)) { socket.destroy(); return; }
    const chosen = choose(ctx.destination);
    const endpoint = chosen instanceof ProxyError ? undefined : chosen.endpoint;
    const m = o.metrics.request(labels(req, ctx, endpoint));
    if (chosen instanceof ProxyError) { m.respond(refuseUpgrade(socket, chosen), { error: chosen.code }); return; }
    const e = chosen.endpoint;
    try {
      const upstream = await endpoints.connect(e, ALPN.http1);
      chosen.begin();
      const status = await relayUpgrade(req, socket, head, upstream, o.limits.idleMs);
      chosen.done({ ok: status < 500 });
      m.respond(status);
    } catch (err) {
      const pe = toProxyError(err);
      chosen.done({ ok: false });
      m.respond(refuseUpgrade(socket, pe), { error: pe.code });
    }
  }

  async function forwardOpaque(socket: Socket, ctx: ConnectionContext, unread?: Buffer): Promise<void> {
    const chosen = choose(ctx.destination);
    if (chosen instanceof ProxyError) {
      o.metrics.refused('outbound', chosen.code === 'no_ready_endpoint' ? 'no_ready_endpoint' : 'no_endpoint');
      socket.destroy();
      return;
    }
    const e = chosen.endpoint;
    countConnection(o.metrics, socket, labels({ headers: {} }, ctx, e));
    try {
      const upstream = await endpoints.connect(e, ALPN.opaque);
      chosen.done({ ok: true });
      splice(socket, upstream, o.limits.idleMs, unread);
    } catch (err) {
      chosen.done({ ok: false });
      o.log.debug({ target: ctx.destination.target, err: toProxyError(err).message }, 'opaque connect failed');
      socket.destroy();
    }
  }

  async function passThrough(socket: Socket, original: OriginalDestination): Promise<void> {
    const target = hostPort(original.ip, original.port);
    countConnection(o.metrics, socket, { direction: 'outbound', authority: target, targetAddr: target, tls: 'false' });
    try {
      splice(socket, await dialPlain(original.ip, original.port, o.connectTimeoutMs), o.limits.idleMs);
    } catch {
      socket.destroy();
    }
  }

  async function accept(socket: Socket): Promise<void> {
    const original = admit(o, 'outbound', open, socket);
    if (!original) return;
    const { destination, release } = o.destinations.acquire(hostPort(original.ip, original.port));
    socket.once('close', release);
    const waitMs = o.firstUpdateWaitMs();
    const known = await destination.answered(waitMs);
    if (socket.destroyed) return;
    if (!known) o.log.warn({ target: destination.target, waitMs }, 'no discovery answer in time; this connection is passed through un-meshed for its whole life');
    if (!known || !destination.update?.exists) { await passThrough(socket, original); return; }
    const ctx: ConnectionContext = { destination, original, h2: false };
    if (destination.update.opaque || o.isOpaquePort(original.port)) { await forwardOpaque(socket, ctx); return; }
    const { protocol, unread } = await detect(socket, o.detectTimeoutMs);
    if (socket.destroyed) return;
    if (protocol === 'http1' || protocol === 'http2') {
      ctx.h2 = protocol === 'http2';
      setContext(socket, ctx);
      const target = hostPort(original.ip, original.port);
      countConnection(o.metrics, socket, { direction: 'outbound', authority: target, targetAddr: target, tls: 'false' });
      if (ctx.h2) front.http2(socket);
      else h1.serve(socket);
      return;
    }
    await forwardOpaque(socket, ctx, unread);
  }

  return {
    accept(socket) { void accept(socket); },
    drain() { front.drain(); h1.drain(); },
    get open() { return open.size; },
    close() {
      front.destroy();
      h1.destroy();
      endpoints.close();
      plainAgent.destroy();
      for (const s of open) s.destroy();
    },
  };
}

/** A connection that failed before the request left: retried elsewhere if the caller says so, else the proxy's error. */
function unsent(req: DownstreamRequest, res: DownstreamResponse, err: ProxyError, retries: RequestRetries): Outcome {
  return retries.unsent() ? { status: err.status, error: err, retried: true } : sendProxyError(req, res, err);
}

/** The whole request body; only called for a declared length ≤ 64 KiB. */
async function readBody(req: DownstreamRequest): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

