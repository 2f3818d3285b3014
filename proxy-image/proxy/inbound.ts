// The inbound proxy (4143): iptables sends every connection to the pod here.
// A TLS ClientHello means a peer proxy: mutual TLS with a certificate that
// chains to the trust roots is required, its identity recorded, and ALPN says
// what follows (h2, http/1.1 for upgrades, skein-opaque). Anything else is a
// plaintext client, detected like outbound. Requests go to the app on
// 127.0.0.1 at the port the client dialled (SO_ORIGINAL_DST).
//
// Which protocol to the app: HTTP/1.1 unless the request arrived as HTTP/2
// and was HTTP/2 at its origin (no `skein-orig-proto: HTTP/1.1` from the
// client's proxy). gRPC and h2c clients thus reach their app in h2, HTTP/1.1
// clients in HTTP/1.1, with no per-app setting.
import http, { type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import type { TrafficLabels } from './metrics.ts';
import { admit, contextOf, countConnection, hostPort, recordOutcome, setContext, splice, type DirectionOptions, type Proxy } from './connection.ts';
import { detect } from './detect.ts';
import { authorizeConnection, authorizeRequest, admitsEverything, defaultOnly, type Decision, type InboundPolicy } from './authz.ts';
import { ProxyError, toProxyError } from './errors.ts';
import { ROUTE_OVERRIDE } from './route-override.ts';
import { authorityOf, CLIENT_ID, ORIG_PROTO } from './headers.ts';
import { createHttpFront } from './http-front.ts';
import { ALPN, identityOf } from './mesh-tls.ts';
import { dialPlain, EndpointLayer } from './endpoint.ts';
import { relayOverH1, relayOverH2, requestHead, sendProxyError, type DownstreamRequest, type DownstreamResponse, type Outcome } from './relay.ts';
import type { Endpoint } from '../../api/discovery-protocol.ts';
import { createH1Front } from './h1/front.ts';
import { relayH1, sendError } from './h1/relay.ts';
import type { ServerExchange } from './h1/server.ts';
import { refuseUpgrade, relayUpgrade } from './upgrade.ts';

/** How long an opaque port waits for a peer's ClientHello before piping plaintext. */
export const OPAQUE_PEEK_MS = 300;

export interface InboundOptions extends DirectionOptions {
  /** The app's address; 127.0.0.1 in a pod. */
  appHost?: string;
  /** The pod's inbound policy now (swapped as InboundUpdates arrive); absent: everything admitted. */
  policy?: () => InboundPolicy;
  /** A peer's handshake must finish within this; a cut ClientHello is dropped then, counted as tls_handshake_timeout. */
  tlsHandshakeTimeoutMs?: number;
}

const OPEN = defaultOnly('all-unauthenticated');

/** Never forwarded to the app from a client: the proxy sets the verified identity itself. */
const FROM_ANY_CLIENT = new Set([CLIENT_ID, ORIG_PROTO]);
/** A plaintext client may not steer routing either (route-override.ts). */
const FROM_PLAINTEXT_CLIENT = new Set([CLIENT_ID, ORIG_PROTO, ROUTE_OVERRIDE]);

interface ConnectionContext {
  appPort: number;
  /** The verified peer identity; undefined for plaintext clients. */
  clientId: string | undefined;
  /** The client's address, for unauthenticated networks. */
  clientIp: string;
  h2: boolean;
}

export function createInbound(o: InboundOptions): Proxy {
  const appHost = o.appHost ?? '127.0.0.1';
  // HTTP/1.1 to the app: the raw path's pooled connections; appAgent carries what it hands over (Upgrade, Expect) and h2 requests that were HTTP/1.1.
  const appAgent = new http.Agent({ keepAlive: true, maxFreeSockets: 256, timeout: o.limits.idleMs });
  const app = new EndpointLayer({ connectTimeoutMs: o.connectTimeoutMs, idleMs: o.limits.idleMs });
  /** The app as an endpoint, per port: the endpoint layer keeps its connections per object. */
  const appEndpoints = new Map<number, Endpoint>();
  const appEndpoint = (port: number): Endpoint => {
    let e = appEndpoints.get(port);
    if (!e) {
      e = { ip: appHost, port, protocolHint: 'http', labels: {} };
      appEndpoints.set(port, e);
    }
    return e;
  };
  const open = new Set<Socket>();
  // The TLS server wraps the raw socket in a new one; the app port travels by the peer's address.
  const pendingTls = new Map<string, number>();
  const policy = o.policy ?? (() => OPEN);

  /** The refusal for this request, or undefined when admitted (counted in inbound_refused_total by reason). */
  function refusal(ctx: ConnectionContext, req: { method?: string | undefined; url?: string | undefined }): ProxyError | undefined {
    const p = policy();
    if (admitsEverything(p)) return undefined;
    const d = authorizeRequest(p, ctx.appPort, { identity: ctx.clientId, ip: ctx.clientIp }, req.method ?? 'GET', req.url ?? '/');
    return d.allowed ? undefined : refused(d);
  }

  function refused(d: Exclude<Decision, { allowed: true }>): ProxyError {
    o.metrics.refused('inbound', `unauthorized_${d.reason}`);
    return new ProxyError('unauthorized', `${d.reason.replaceAll('_', ' ')} (policy ${d.policy})`);
  }

  /** Opaque TCP: admitted or closed, decided once for the connection. */
  function connectionAdmitted(ctx: ConnectionContext): boolean {
    const p = policy();
    if (admitsEverything(p)) return true;
    const d = authorizeConnection(p, ctx.appPort, { identity: ctx.clientId, ip: ctx.clientIp });
    if (!d.allowed) refused(d);
    return d.allowed;
  }

  const front = createHttpFront({
    direction: 'inbound', metrics: o.metrics, limits: o.limits,
    onRequest: (req, res) => { void onRequest(req, res); },
    onUpgrade: (req, socket, head) => { void onUpgrade(req, socket, head); },
  });

  const h1 = createH1Front({
    direction: 'inbound', metrics: o.metrics, limits: o.limits,
    onRequest: (ex) => { void onH1Request(ex); },
    onHandOff: (socket) => front.http1(socket),
  });


  /** The raw HTTP/1.1 path: from a peer proxy (ALPN http/1.1) or a plaintext client, to the app over a pooled keep-alive connection. */
  async function onH1Request(ex: ServerExchange): Promise<void> {
    const ctx = contextOf<ConnectionContext>(ex.socket);
    if (!ctx) { ex.destroy(); return; }
    const m = o.metrics.request(labels(ex, ctx));
    const denied = refusal(ctx, ex);
    if (denied) { recordOutcome(m, sendError(ex, denied)); return; }
    const extra = appHeaders(ctx);
    recordOutcome(m, await relayH1(ex, app.h1(appEndpoint(ctx.appPort)), {
      drop: ctx.clientId ? FROM_ANY_CLIENT : FROM_PLAINTEXT_CLIENT,
      ...(extra ? { extra } : {}),
    }));
  }

  const tlsServer = o.tls.createServer((socket) => onSecure(socket), o.tlsHandshakeTimeoutMs);
  tlsServer.on('tlsClientError', (err: NodeJS.ErrnoException, socket: TLSSocket) => {
    const reason = err.code === 'ERR_TLS_HANDSHAKE_TIMEOUT' ? 'tls_handshake_timeout' : /certificate|CERT/i.test(`${err.code ?? ''} ${err.message}`) ? 'no_client_certificate' : 'tls_handshake';
    o.metrics.refused('inbound', reason);
    o.log.debug({ err: err.message, peer: socket.remoteAddress }, 'inbound TLS handshake refused');
    socket.destroy();
  });

  function labels(req: { headers: IncomingMessage['headers'] }, ctx: ConnectionContext): TrafficLabels {
    const target = hostPort(appHost, ctx.appPort);
    return {
      direction: 'inbound', authority: authorityOf(req.headers) ?? target, targetAddr: target,
      // Plaintext clients are tls="false", as in the TCP metrics of the same connection.
      tls: ctx.clientId ? 'true' : 'false',
      ...(ctx.clientId ? { clientId: ctx.clientId } : {}),
    };
  }

  /** Headers for the app: the verified client identity, never one a client claimed itself. */
  function appHeaders(ctx: ConnectionContext): Record<string, string> | undefined {
    return ctx.clientId ? { [CLIENT_ID]: ctx.clientId } : undefined;
  }

  async function onRequest(req: DownstreamRequest, res: DownstreamResponse): Promise<void> {
    const ctx = contextOf<ConnectionContext>(req.socket);
    if (!ctx) { req.socket.destroy(); return; }
    const m = o.metrics.request(labels(req, ctx));
    const denied = refusal(ctx, req);
    if (denied) { recordOutcome(m, sendProxyError(req, res, denied)); return; }
    // Only a meshed client may steer routing (route-override.ts): a plaintext one's header never reaches the app.
    if (!ctx.clientId && req.headers[ROUTE_OVERRIDE] !== undefined) delete req.headers[ROUTE_OVERRIDE];
    const wasH1 = req.headers[ORIG_PROTO] === 'HTTP/1.1';
    // Only when present: a delete turns the headers object into a slow dictionary.
    if (wasH1 || req.headers[ORIG_PROTO] !== undefined) delete req.headers[ORIG_PROTO];
    if (req.headers[CLIENT_ID] !== undefined) delete req.headers[CLIENT_ID];
    const head = requestHead(req, appHeaders(ctx));
    let outcome: Outcome;
    if (ctx.h2 && !wasH1) {
      try {
        const session = await app.h2(appEndpoint(ctx.appPort));
        outcome = await relayOverH2(session, head, req, res);
      } catch (err) {
        outcome = sendProxyError(req, res, toProxyError(err));
      }
    } else {
      outcome = await relayOverH1({ agent: appAgent, host: appHost, port: ctx.appPort }, head, req, res);
    }
    recordOutcome(m, outcome);
  }

  async function onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const ctx = contextOf<ConnectionContext>(req.socket);
    if (!ctx) { socket.destroy(); return; }
    const m = o.metrics.request(labels(req, ctx));
    const denied = refusal(ctx, req);
    if (denied) { m.respond(refuseUpgrade(socket, denied), { error: denied.code }); return; }
    delete req.headers[CLIENT_ID];
    if (!ctx.clientId) delete req.headers[ROUTE_OVERRIDE];
    try {
      const app = await dialPlain(appHost, ctx.appPort, o.connectTimeoutMs);
      m.respond(await relayUpgrade(req, socket, head, app, o.limits.idleMs, appHeaders(ctx)));
    } catch (err) {
      const pe = toProxyError(err);
      m.respond(refuseUpgrade(socket, pe), { error: pe.code });
    }
  }

  function toApp(socket: Duplex, ctx: ConnectionContext, unread?: Buffer): void {
    if (!connectionAdmitted(ctx)) { socket.destroy(); return; }
    dialPlain(appHost, ctx.appPort, o.connectTimeoutMs).then((app) => splice(socket, app, o.limits.idleMs, unread), () => socket.destroy());
  }

  function onSecure(socket: TLSSocket): void {
    const key = `${socket.remoteAddress}:${socket.remotePort}`;
    const appPort = pendingTls.get(key);
    pendingTls.delete(key);
    const clientId = identityOf(socket.getPeerCertificate());
    if (appPort === undefined || !clientId) {
      o.metrics.refused('inbound', 'no_identity');
      socket.destroy();
      return;
    }
    const ctx: ConnectionContext = { appPort, clientId, clientIp: socket.remoteAddress ?? '', h2: socket.alpnProtocol === ALPN.http2 };
    setContext(socket, ctx);
    const target = hostPort(appHost, appPort);
    countConnection(o.metrics, socket, { direction: 'inbound', authority: target, targetAddr: target, tls: 'true', clientId });
    if (socket.alpnProtocol === ALPN.opaque) {
      toApp(socket, ctx);
    } else if (ctx.h2) front.http2(socket);
    else h1.serve(socket);
  }

  async function accept(socket: Socket): Promise<void> {
    const original = admit(o, 'inbound', open, socket);
    if (!original) return;
    const appPort = original.port;
    // On an opaque port only a peer's ClientHello is looked for, and briefly: a
    // plaintext client of a server-speaks-first protocol sends nothing first.
    const opaque = o.isOpaquePort(appPort);
    const { protocol, unread } = await detect(socket, opaque ? Math.min(o.detectTimeoutMs, OPAQUE_PEEK_MS) : o.detectTimeoutMs);
    if (socket.destroyed) return;
    if (protocol === 'tls') {
      const key = `${socket.remoteAddress}:${socket.remotePort}`;
      pendingTls.set(key, appPort);
      socket.once('close', () => pendingTls.delete(key));
      tlsServer.emit('connection', socket);
      return;
    }
    const ctx: ConnectionContext = { appPort, clientId: undefined, clientIp: socket.remoteAddress ?? '', h2: protocol === 'http2' };
    const target = hostPort(appHost, appPort);
    countConnection(o.metrics, socket, { direction: 'inbound', authority: target, targetAddr: target, tls: 'false' });
    if (protocol === 'opaque' || opaque) {
      toApp(socket, ctx, unread);
      return;
    }
    setContext(socket, ctx);
    if (ctx.h2) front.http2(socket);
    else h1.serve(socket);
  }

  return {
    accept(socket) { void accept(socket); },
    drain() { front.drain(); h1.drain(); },
    get open() { return open.size; },
    close() {
      front.destroy();
      h1.destroy();
      app.close();
      appAgent.destroy();
      for (const s of open) s.destroy();
    },
  };
}
