// The admin server on 4191: what the kubelet probes and Prometheus scrapes.
// node:http rather than fastify: four fixed routes, no bodies to parse, and it
// runs in every meshed pod, so the smaller footprint and start-up time matter
// more than routing or schema features.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from '../../shared/prom-text.ts';

export interface Readiness { ready: boolean; missing: string[] }

/**
 * The proxy is ready with a valid certificate, and once discovery has
 * answered at least once. Discovery gates start-up only (the app must not
 * dial before the proxy can route): after that, an outage must not flip
 * readiness, or every meshed pod would go NotReady together and take its
 * Services' endpoints with it, turning a control-plane outage into a
 * data-plane one. The last good state keeps routing meanwhile. The
 * certificate stays a condition: a proxy about to serve with an expired one
 * must leave its endpoints.
 */
export function proxyReadiness(s: { certificateValid: boolean; discoveryEverConnected: boolean }): Readiness {
  const missing: string[] = [];
  if (!s.certificateValid) missing.push('identity: no valid certificate yet');
  if (!s.discoveryEverConnected) missing.push('discovery: not connected yet');
  return { ready: missing.length === 0, missing };
}

export interface AdminOptions {
  host: string;
  port: number;
  registry: Registry;
  /** e.g. { ready: false, missing: ['identity: no certificate yet', 'discovery: not connected'] } */
  ready: () => Readiness;
  /** Jobs enable it so their sidecar can be told to exit (config.skein.dev/proxy-admin-shutdown). */
  shutdownEnabled: boolean;
  onShutdown: () => void;
}

export interface AdminServer { close(): Promise<void>; port: number }

/** No route takes a body; anything bigger than this is refused rather than read. */
export const MAX_BODY_BYTES = 1024;

interface Reply { status: number; body: string; contentType?: string; after?: () => void }

const text = (status: number, body: string): Reply => ({ status, body: body.endsWith('\n') ? body : `${body}\n` });

/** Route a request to its reply; async only for the registry, whose collectors may be. */
export async function route(method: string, path: string, o: Omit<AdminOptions, 'host' | 'port'>): Promise<Reply> {
  switch (path) {
    case '/metrics':
      if (method !== 'GET' && method !== 'HEAD') return text(405, 'use GET /metrics');
      return { status: 200, body: await o.registry.metrics(), contentType: o.registry.contentType };
    case '/ready': {
      if (method !== 'GET' && method !== 'HEAD') return text(405, 'use GET /ready');
      const r = o.ready();
      return r.ready ? text(200, 'ready') : text(503, ['not ready:', ...r.missing].join('\n'));
    }
    case '/live':
      if (method !== 'GET' && method !== 'HEAD') return text(405, 'use GET /live');
      return text(200, 'live');
    case '/shutdown':
      if (method !== 'POST') return text(405, 'use POST /shutdown');
      if (!o.shutdownEnabled) return text(403, 'shutdown is disabled; set the annotation config.skein.dev/proxy-admin-shutdown: enabled on the pod');
      return { ...text(202, 'shutting down'), after: o.onShutdown };
    default:
      return text(404, 'not found; the admin server serves /metrics, /ready, /live and POST /shutdown');
  }
}

function send(res: ServerResponse, reply: Reply, head: boolean): void {
  res.writeHead(reply.status, {
    'content-type': reply.contentType ?? 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(reply.body),
    'cache-control': 'no-store',
  });
  if (reply.after) res.once('finish', reply.after);
  res.end(head ? undefined : reply.body);
}

function declaredTooLarge(req: IncomingMessage): boolean {
  const length = Number(req.headers['content-length'] ?? 0);
  return req.headers['transfer-encoding'] !== undefined || !(length <= MAX_BODY_BYTES);
}

export async function startAdmin(o: AdminOptions): Promise<AdminServer> {
  const server = createServer({ requestTimeout: 10_000, headersTimeout: 5_000, maxHeaderSize: 8192 }, (req, res) => {
    if (declaredTooLarge(req)) {
      // Close rather than drain: reading the body is exactly what we refuse to do.
      res.setHeader('connection', 'close');
      send(res, text(413, `request bodies are limited to ${MAX_BODY_BYTES} bytes`), false);
      return;
    }
    let seen = 0;
    req.on('data', (chunk: Buffer) => { seen += chunk.length; if (seen > MAX_BODY_BYTES) req.destroy(); });
    const path = new URL(req.url ?? '/', 'http://admin').pathname;
    const method = req.method ?? 'GET';
    route(method, path, o).then(
      (reply) => send(res, reply, method === 'HEAD'),
      (err: unknown) => send(res, text(500, `metrics collection failed: ${(err as Error).message}`), false),
    );
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => { server.off('error', reject); resolve(); });
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve, reject) => {
      server.close((err) => (err ? reject(err) : resolve()));
      server.closeAllConnections();
    }),
  };
}
