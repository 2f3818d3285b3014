// The outbound proxy (4140): every connection the app opens arrives here via
// iptables. Its original destination names a discovery target; HTTP is then
// balanced per request (opaque TCP per connection) over the target's
// endpoints: mutual TLS over a shared HTTP/2 session to meshed endpoints,
// plaintext to the others. Destinations discovery does not know (or does not
// answer for in time) are passed through untouched.
import http, { type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import net, { type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Endpoint, Update } from '../../shared/discovery-protocol.ts';
import type { OriginalDestination } from './original-dst.ts';
import type { Pick } from './balancer.ts';
import type { TrafficLabels } from './metrics.ts';
import { admit, contextOf, countConnection, hostPort, recordOutcome, setContext, splice, type DirectionOptions, type Proxy } from './connection.ts';
import { detect } from './detect.ts';
import type { Destination, Destinations } from './destinations.ts';
import { ProxyError, toProxyError } from './errors.ts';
import { authorityOf, isUpgradeRequest, ORIG_PROTO } from './headers.ts';
import { createHttpFront, type HttpFront } from './http-front.ts';
import { ALPN, type Alpn } from './mesh-tls.ts';
import { hasRequestBody, relayOverH1, relayOverH2, requestHead, sendProxyError, type DownstreamRequest, type DownstreamResponse, type Outcome, type RelayOptions } from './relay.ts';
import { replayableBody, RequestRetries } from './retries.ts';
import { DEFAULT_ROUTE, isFailure, matchRoute, type CompiledRoute } from './routes.ts';
import { overrideTarget, parseRouteOverride, ROUTE_OVERRIDE } from './route-override.ts';
import { drawBackend } from './split.ts';
import type { Balancer } from './balancer.ts';
import { SessionPool } from './sessions.ts';
import { H1Pool } from './h1/client.ts';
import { DEFAULT_H1_LIMITS } from './h1/codec.ts';
import { createH1Front } from './h1/front.ts';
import { relayH1, sendError, type H1Upstream } from './h1/relay.ts';
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

/**
 * How long an endpoint that refused a request unprocessed (its pod's proxy
 * could not reach the app, or nothing accepted the connection) is skipped by
 * new picks. A pod whose app has exited stays listed until the EndpointSlice
 * change reaches this proxy; during a scale-down several can refuse at once,
 * and without this each request could meet all of them (issue #7).
 */
const REFUSING_MS = 2_000;

/**
 * How long an idle keep-alive connection to a peer proxy or a plaintext
 * endpoint is kept: below Node's default server keep-alive (5 s), so an
 * unmeshed Node app never closes one just as a request leaves on it.
 */
const H1_POOL_IDLE_MS = 4_000;

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
  const dialAddress = o.dialAddress ?? ((e: Endpoint) => ({ host: e.ip, port: e.port }));
  const sessions = new SessionPool({ idleMs: o.limits.idleMs });
  const h1Pool = new H1Pool({ idleMs: Math.min(H1_POOL_IDLE_MS, o.limits.idleMs), limits: DEFAULT_H1_LIMITS });
  /** Per endpoint object, like sessionKeys: the pool key and dialler, made once. */
  const h1Upstreams = new WeakMap<Endpoint, H1Upstream>();
  const plainAgent = new http.Agent({ keepAlive: true, maxFreeSockets: 256, timeout: o.limits.idleMs });
  const open = new Set<Socket>();
  const relay: RelayOptions = o.responseTimeoutMs === undefined ? {} : { responseTimeoutMs: o.responseTimeoutMs };
  const random = o.random ?? Math.random;
  const clusterDomain = o.clusterDomain ?? 'cluster.local';
  const honourOverride = o.routeOverride ?? true;
  // Session keys per endpoint object (discovery's objects live until the next update): no string built per request.
  const sessionKeys = new WeakMap<Endpoint, string>();
  /** Endpoint address → until when it is skipped (see REFUSING_MS). */
  const refusing = new Map<string, number>();
  const isRefusing = (e: Endpoint): boolean => {
    if (refusing.size === 0) return false;
    const key = hostPort(e.ip, e.port);
    const until = refusing.get(key);
    if (until === undefined) return false;
    if (Date.now() < until) return true;
    refusing.delete(key);
    return false;
  };
  /** The latest expiry in `refusing` (every entry lasts REFUSING_MS, so the newest one's). */
  let refusingUntil = 0;
  const markRefusing = (e: Endpoint): void => {
    const now = Date.now();
    // Endpoints that left discovery are never looked up again: sweep so the map stays small.
    if (refusing.size > 256) for (const [k, until] of refusing) if (until <= now) refusing.delete(k);
    refusing.set(hostPort(e.ip, e.port), now + REFUSING_MS);
    refusingUntil = now + REFUSING_MS;
  };
  /**
   * The skip predicate for picks, only while some entry can still be live: an
   * entry of an endpoint that left discovery would otherwise keep every pick
   * on the balancer's slow path (and a string built per endpoint) for good.
   */
  const refusingNow = (): ((e: Endpoint) => boolean) | undefined => {
    if (refusing.size === 0) return undefined;
    if (Date.now() >= refusingUntil) { refusing.clear(); return undefined; }
    return isRefusing;
  };
  const sessionKey = (e: Endpoint, make: () => string): string => {
    let k = sessionKeys.get(e);
    if (k === undefined) sessionKeys.set(e, k = make());
    return k;
  };

  const dialMesh = (e: Endpoint & { identity: string }, alpn: Alpn) => {
    const a = dialAddress(e);
    return o.tls.connect({ ...a, identity: e.identity, alpn, timeoutMs: o.connectTimeoutMs });
  };

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

  function h1Upstream(e: Endpoint): H1Upstream {
    let up = h1Upstreams.get(e);
    if (up) return up;
    const identity = e.identity;
    const a = dialAddress(e);
    up = identity
      ? { pool: h1Pool, key: `mtls/${hostPort(a.host, a.port)}/${identity}`, dial: () => dialMesh({ ...e, identity }, ALPN.http1) }
      : { pool: h1Pool, key: `plain/${hostPort(a.host, a.port)}`, dial: () => dialPlain(a.host, a.port, o.connectTimeoutMs) };
    h1Upstreams.set(e, up);
    return up;
  }

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

  /** A balanced endpoint for one request, or the error the request gets instead. */
  function choose(d: Destination, balancer: Balancer<Endpoint> = d.balancer, avoid?: Endpoint): Pick<Endpoint> | ProxyError {
    const u = d.update;
    if (!u?.exists) return new ProxyError('no-endpoint', `discovery knows nothing at ${d.target}`);
    const pick = balancer.pick(avoid, refusingNow());
    return pick ?? new ProxyError('no-ready-endpoint', `${serviceName(u) ?? d.target} has no ready endpoint`);
  }

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
        return relayH1(ex, h1Upstream(chosen.endpoint), options);
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
      if (retries.cause === 'not-sent') markRefusing(chosen.endpoint);
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
    const identity = e.identity;
    if (identity) {
      // HTTP/1.1 rides the peers' h2 session too; the header tells the far side to speak HTTP/1.1 to its app.
      const head = requestHead(req, ctx.h2 ? undefined : FROM_HTTP1);
      try {
        const session = await sessions.get(sessionKey(e, () => `mtls/${hostPort(e.ip, e.port)}/${identity}`), () => dialMesh({ ...e, identity }, ALPN.http2));
        chosen.begin();
        return await relayOverH2(session, head, req, res, options);
      } catch (err) {
        return unsent(req, res, toProxyError(err), retries);
      }
    }
    const a = dialAddress(e);
    const head = requestHead(req);
    if (ctx.h2) {
      try {
        const session = await sessions.get(sessionKey(e, () => `plain/${hostPort(a.host, a.port)}`), () => dialPlain(a.host, a.port, o.connectTimeoutMs));
        chosen.begin();
        return await relayOverH2(session, head, req, res, options);
      } catch (err) {
        return unsent(req, res, toProxyError(err), retries);
      }
    }
    return relayOverH1({ agent: plainAgent, ...a }, head, req, res, options);
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
      const identity = e.identity;
      const a = dialAddress(e);
      const upstream = identity ? await dialMesh({ ...e, identity }, ALPN.http1) : await dialPlain(a.host, a.port, o.connectTimeoutMs);
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
      o.metrics.refused('outbound', chosen.code === 'no-ready-endpoint' ? 'no_ready_endpoint' : 'no_endpoint');
      socket.destroy();
      return;
    }
    const e = chosen.endpoint;
    countConnection(o.metrics, socket, labels({ headers: {} }, ctx, e));
    try {
      const identity = e.identity;
      const a = dialAddress(e);
      const upstream = identity ? await dialMesh({ ...e, identity }, ALPN.opaque) : await dialPlain(a.host, a.port, o.connectTimeoutMs);
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
      h1Pool.close();
      sessions.close();
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

function serviceName(u: Update): string | undefined {
  return u.service ? `${u.service.name}.${u.service.namespace}:${u.service.port}` : undefined;
}

/** A plaintext TCP connection with a bounded connect time. */
export function dialPlain(host: string, port: number, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port, allowHalfOpen: true, noDelay: true });
    const timer = setTimeout(() => { socket.destroy(); reject(new ProxyError('connect-timeout', `no connection to ${hostPort(host, port)} within ${timeoutMs} ms`)); }, timeoutMs);
    socket.once('connect', () => { clearTimeout(timer); resolve(socket); });
    // Stays attached: an error after connect (before the caller wires the socket) only destroys it.
    socket.on('error', (err) => { clearTimeout(timer); socket.destroy(); reject(err); });
  });
}
