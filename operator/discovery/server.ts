// The discovery API (api/discovery-protocol.ts): HTTP/2 over mutual TLS,
// POST /v1/watch, one NDJSON stream per destination. Every client proves its
// identity with a certificate from the mesh's trust roots; every refusal is a
// status with a reason code, never a crash; every stream is bounded (body
// size, streams per connection, how much a slow reader may leave unread).
import { createSecureServer, constants, type Http2SecureServer, type ServerHttp2Stream, type IncomingHttpHeaders } from 'node:http2';
import type { TLSSocket } from 'node:tls';
import { WatchRequest, WATCH_PATH, HEARTBEAT_MS, InboundRequest, INBOUND_PATH, type InboundUpdate, type Update } from '../../api/discovery-protocol.ts';
import { negotiateRequest, responseHeaders, SkewError, type Negotiated } from '../../api/discovery-version.ts';
import type { Logger } from '../../shared/log.ts';
import type { DiscoveryHub } from '../hub.ts';
import type { DiscoveryMetrics } from './metrics.ts';
import { NOTHING } from './resolve.ts';
import { parseTarget, TargetError } from './target.ts';

export interface ServingTls { cert: string; key: string; ca: string }

export interface DiscoveryServerOptions {
  tls: ServingTls;
  hub: Pick<DiscoveryHub, 'watch' | 'watchInbound'>;
  /** The ServiceAccount a pod runs as, undefined while the pod is unknown: inbound streams go only to the pod's own proxy. */
  podServiceAccount?: (namespace: string, pod: string) => string | undefined;
  clusterDomain: string;
  metrics: DiscoveryMetrics;
  logger: Logger;
  heartbeatMs?: number;
  maxStreamsPerConnection?: number;
  maxBodyBytes?: number;
  /** A reader this far behind is cut off: snapshots make a fresh stream as good as the backlog. */
  maxUnreadBytes?: number;
  bodyTimeoutMs?: number;
  /** A client that starts a TLS handshake and stalls is dropped after this (Node's default is 120 s). */
  handshakeTimeoutMs?: number;
}

export type RefusalCode = 'not_found' | 'method_not_allowed' | 'body_too_large' | 'body_timeout' | 'json_malformed' | 'request_invalid' | 'target_malformed'
  | 'pod_unknown' | 'forbidden' | 'protocol_version_malformed' | 'protocol_version_unsupported';

const STATUS: Record<RefusalCode, number> = {
  not_found: 404, method_not_allowed: 405, body_too_large: 413, body_timeout: 408, pod_unknown: 404, forbidden: 403,
  json_malformed: 400, request_invalid: 400, target_malformed: 400,
  // 400, not 426: HTTP/2 forbids the Upgrade mechanism, and the answer names the side to upgrade.
  protocol_version_malformed: 400, protocol_version_unsupported: 400,
};

export function createDiscoveryServer(o: DiscoveryServerOptions): Http2SecureServer {
  const server = createSecureServer({
    ...tlsOptions(o.tls), requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.2', allowHTTP1: false,
    handshakeTimeout: o.handshakeTimeoutMs ?? 10_000,
    settings: { maxConcurrentStreams: o.maxStreamsPerConnection ?? 100 },
  });
  server.on('stream', (stream, headers) => { handleStream(stream, headers, o); });
  server.on('tlsClientError', (err: Error) => {
    o.metrics.errors.inc({ reason: 'tls_handshake' });
    o.logger.debug({ err: err.message }, 'TLS handshake refused');
  });
  server.on('sessionError', (err: Error) => {
    o.metrics.errors.inc({ reason: 'session' });
    o.logger.debug({ err: err.message }, 'HTTP/2 session failed');
  });
  return server;
}

/** For `server.setSecureContext` too: the certificate is renewed while streams stay open. */
export function tlsOptions(tls: ServingTls): { cert: string; key: string; ca: string } {
  return { cert: tls.cert, key: tls.key, ca: tls.ca };
}

/** The client's identity: the DNS SAN of its verified certificate (one name, as the identity service issues). */
export function peerIdentity(stream: ServerHttp2Stream): string {
  const cert = (stream.session?.socket as TLSSocket | undefined)?.getPeerX509Certificate();
  const dns = (cert?.subjectAltName ?? '').split(', ').find((n) => n.startsWith('DNS:'));
  return dns ? dns.slice(4) : 'unknown';
}

/** The ServiceAccount and namespace of a workload identity (`<sa>.<ns>.serviceaccount.identity.…`); a namespace has no dots. */
export function identityOwner(identity: string): { serviceAccount: string; namespace: string } | undefined {
  const at = identity.indexOf('.serviceaccount.identity.');
  if (at < 0) return undefined;
  const head = identity.slice(0, at);
  const dot = head.lastIndexOf('.');
  return dot > 0 ? { serviceAccount: head.slice(0, dot), namespace: head.slice(dot + 1) } : undefined;
}

function refuse(stream: ServerHttp2Stream, o: DiscoveryServerOptions, code: RefusalCode, message: string): void {
  o.metrics.errors.inc({ reason: code });
  o.logger.info({ reason: code, peer: peerIdentity(stream) }, message);
  if (stream.destroyed || stream.headersSent) { stream.close(constants.NGHTTP2_CANCEL); return; }
  stream.respond({ ':status': STATUS[code], 'content-type': 'application/json' });
  stream.end(JSON.stringify({ error: code, message }));
}

function handleStream(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, o: DiscoveryServerOptions): void {
  stream.on('error', (err) => { o.logger.debug({ err: err.message }, 'stream error'); });
  const path = headers[':path'];
  if (path !== WATCH_PATH && path !== INBOUND_PATH) return refuse(stream, o, 'not_found', `no such path; watch with POST ${WATCH_PATH} or POST ${INBOUND_PATH}`);
  const example = path === WATCH_PATH ? '{"target": "ip:port"}' : '{"namespace": "<pod namespace>", "pod": "<pod name>"}';
  if (headers[':method'] !== 'POST') return refuse(stream, o, 'method_not_allowed', `${path} takes POST with a JSON body ${example}`);
  let negotiated: Negotiated;
  try {
    negotiated = negotiateRequest(headers);
  } catch (err) {
    if (err instanceof SkewError) return refuse(stream, o, err.code, err.message);
    throw err;
  }
  void readBody(stream, o.maxBodyBytes ?? 4096, o.bodyTimeoutMs ?? 10_000).then((body) => {
    if (typeof body !== 'string') return refuse(stream, o, body.code, body.message);
    let json: unknown;
    try { json = JSON.parse(body); } catch { return refuse(stream, o, 'json_malformed', `the body is not JSON; send ${example}`); }
    if (path === INBOUND_PATH) return openInbound(stream, json, o, negotiated);
    const req = WatchRequest.safeParse(json);
    if (!req.success) return refuse(stream, o, 'request_invalid', `the watch request is invalid: ${req.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; ')}`);
    try {
      serveWatch(stream, req.data, o, negotiated);
    } catch (err) {
      if (err instanceof TargetError) return refuse(stream, o, err.code, err.message);
      throw err;
    }
  }).catch((err: unknown) => {
    // A bug here must cost one stream, never the process and every proxy's watches.
    o.metrics.errors.inc({ reason: 'internal' });
    o.logger.error({ err, path }, 'watch request failed');
    if (!stream.destroyed) stream.close(constants.NGHTTP2_INTERNAL_ERROR);
  });
}

type BodyRefusal = { code: RefusalCode; message: string };

function readBody(stream: ServerHttp2Stream, limit: number, timeoutMs: number): Promise<string | BodyRefusal> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const timer = setTimeout(() => finish({ code: 'body_timeout', message: `the request body did not arrive within ${timeoutMs} ms` }), timeoutMs);
    const finish = (r: string | BodyRefusal) => {
      clearTimeout(timer);
      stream.removeAllListeners('data');
      stream.removeAllListeners('end');
      resolve(r);
    };
    stream.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) finish({ code: 'body_too_large', message: `the request body is over ${limit} bytes; a watch request is one small JSON object` });
      else chunks.push(chunk);
    });
    stream.on('end', () => finish(Buffer.concat(chunks).toString('utf8')));
  });
}

function openInbound(stream: ServerHttp2Stream, json: unknown, o: DiscoveryServerOptions, negotiated: Negotiated): void {
  const req = InboundRequest.safeParse(json);
  if (!req.success) return refuse(stream, o, 'request_invalid', `the inbound request is invalid: ${req.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; ')}`);
  const { namespace, pod } = req.data;
  const owner = identityOwner(peerIdentity(stream));
  if (owner?.namespace !== namespace) {
    return refuse(stream, o, 'forbidden', `a proxy may ask only for the inbound policy of its own pod; this client's identity is not of namespace ${namespace}`);
  }
  const sa = o.podServiceAccount?.(namespace, pod);
  if (sa === undefined) return refuse(stream, o, 'pod_unknown', `pod ${namespace}/${pod} is not known (yet); retry shortly`);
  if (sa !== owner.serviceAccount) {
    return refuse(stream, o, 'forbidden', `pod ${namespace}/${pod} runs as ServiceAccount ${sa}, this client as ${owner.serviceAccount}; a proxy may ask only for its own pod`);
  }
  openStream(stream, o, negotiated, `inbound ${namespace}/${pod}`, 'inbound', (send) => o.hub.watchInbound(namespace, pod, send));
}

/** Streams what `subscribe` delivers as NDJSON, with heartbeats, until the client goes. */
function openStream(stream: ServerHttp2Stream, o: DiscoveryServerOptions, negotiated: Negotiated, what: string, kind: string, subscribe: (send: (m: Update | InboundUpdate) => void) => () => void): void {
  const peer = peerIdentity(stream);
  stream.respond({ ':status': 200, 'content-type': 'application/x-ndjson', ...responseHeaders(negotiated) });
  o.metrics.streams.inc({ kind, protocol_version: String(negotiated.version) });
  o.metrics.peers.inc({ identity: peer });
  o.metrics.streamsOpen.inc();
  o.logger.info({ peer, what }, 'watch opened');
  const maxUnread = o.maxUnreadBytes ?? 1 << 20;
  const send = (line: string) => {
    if (stream.destroyed || stream.closed) return;
    if (stream.writableLength > maxUnread) {
      o.metrics.errors.inc({ reason: 'slow_reader' });
      o.logger.warn({ peer, what, unread: stream.writableLength }, 'watch stream closed: the client stopped reading');
      stream.close(constants.NGHTTP2_ENHANCE_YOUR_CALM);
      return;
    }
    stream.write(line + '\n');
  };
  const unsubscribe = subscribe((m) => { o.metrics.updatesSent.inc(); send(JSON.stringify(m)); });
  const heartbeat = setInterval(() => { send('{"type":"heartbeat"}'); }, o.heartbeatMs ?? HEARTBEAT_MS);
  stream.once('close', () => {
    clearInterval(heartbeat);
    unsubscribe();
    o.metrics.streamsOpen.dec();
    o.logger.debug({ peer, what }, 'watch closed');
  });
}

function serveWatch(stream: ServerHttp2Stream, req: WatchRequest, o: DiscoveryServerOptions, negotiated: Negotiated): void {
  const target = parseTarget(req.target, o.clusterDomain);
  // A name that is no Service of this cluster is "nothing there" for good: one snapshot, then heartbeats.
  openStream(stream, o, negotiated, `target ${req.target}${req.namespace ? ` from ${req.namespace}` : ''}`, target?.kind ?? 'unknown',
    (send) => (target ? o.hub.watch(target, send, clientNamespace(stream, req)) : (send(NOTHING), () => undefined)));
}

/** The asking proxy's namespace for consumer routes: its certificate's, which it cannot choose, else what it said. */
function clientNamespace(stream: ServerHttp2Stream, req: WatchRequest): string | undefined {
  return identityOwner(peerIdentity(stream))?.namespace ?? req.namespace;
}
