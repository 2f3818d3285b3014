// An outbound proxy and inbound proxies in one process on loopback, composed
// by compose.ts as main.ts is (shorter timeouts only), for the fuzz and security
// tests: real mutual TLS, a fake discovery table, and the "address the
// client dialled" chosen by its source address (127.0.0.x), as conntrack would.
import http from 'node:http';
import http2 from 'node:http2';
import type { AddressInfo, Server } from 'node:net';
import { once } from 'node:events';
import { Registry } from '../../shared/prom-text.ts';
import { pino } from 'pino';
import { createCa, issueLeaf, privateKeyPem, type KeyedCertificate } from '../../shared/tls.ts';
import type { Update } from '../../api/discovery-protocol.ts';
import { composeProxy, type ProxyTimeouts } from './compose.ts';
import { DEFAULT_HTTP_LIMITS, type HttpLimits } from './http-front.ts';
import { MeshTls, type WorkloadCertificate } from './mesh-tls.ts';

export const CLIENT_ID = 'web.shop.serviceaccount.identity.skein-system.cluster.local';
export const SERVER_ID = 'api.shop.serviceaccount.identity.skein-system.cluster.local';
const HOUR = 3_600_000;
const log = pino({ level: 'silent' });
/** Shorter than production's, so a test of a silent client or a dead endpoint ends in a second. */
export const TEST_TIMEOUTS: Partial<ProxyTimeouts> = { detectMs: 1_000, inboundConnectMs: 1_000, outboundConnectMs: 1_000, firstUpdateWaitDisconnectedMs: 1_000 };

export async function listen(server: Server, closers: (() => void)[]): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  closers.push(() => server.close());
  return (server.address() as AddressInfo).port;
}

export interface LeafSpec { identity: string; validForMs?: number; backdateMs?: number }

export async function workloadCert(ca: KeyedCertificate, spec: LeafSpec): Promise<WorkloadCertificate> {
  const { cert, keys } = await issueLeaf(ca, {
    subject: `CN=${spec.identity}`, dnsNames: [spec.identity], usages: ['server', 'client'],
    validForMs: spec.validForMs ?? HOUR, ...(spec.backdateMs === undefined ? {} : { backdateMs: spec.backdateMs }),
  });
  return { certPem: cert.toString('pem'), chainPem: [], keyPem: await privateKeyPem(keys!.privateKey) };
}

/** An app that answers with what it saw, and remembers every path (a smuggled request must never show up). */
export interface RecordingApps { h1Paths: string[]; h2Streams: number }

function h1App(seen: RecordingApps): http.Server {
  return http.createServer((req, res) => {
    seen.h1Paths.push(req.url ?? '');
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ url: req.url, headers: req.headers }));
    });
  });
}

function h2App(seen: RecordingApps): http2.Http2Server {
  const s = http2.createServer();
  s.on('stream', (stream) => {
    seen.h2Streams += 1;
    stream.resume();
    stream.on('end', () => { stream.respond({ ':status': 200 }); stream.end('h2 ok'); });
    stream.on('error', () => {});
  });
  return s;
}

export interface InboundPod { port: number; metrics: Registry }

export interface PairOptions {
  ca: KeyedCertificate;
  limits?: HttpLimits;
  tlsHandshakeTimeoutMs?: number;
  closers: (() => void)[];
}

/** Discovery for a pod whose outbound side the test does not use: it never answers. */
export const silentDiscovery = { watch: () => () => undefined };

export async function inboundPod(appPort: number, trustPem: string, cert: WorkloadCertificate, o: PairOptions): Promise<InboundPod> {
  const meshTls = new MeshTls(trustPem);
  meshTls.update(cert);
  const metrics = new Registry();
  const proxy = composeProxy({
    tls: meshTls, discovery: silentDiscovery, registry: metrics, log,
    originalDestination: () => ({ ip: '127.0.0.1', port: appPort, family: 4 }),
    timeouts: TEST_TIMEOUTS, limits: { ...(o.limits ?? DEFAULT_HTTP_LIMITS), ...(o.tlsHandshakeTimeoutMs === undefined ? {} : { tlsHandshakeTimeoutMs: o.tlsHandshakeTimeoutMs }) },
  });
  const port = await listen(proxy.server('inbound'), o.closers);
  o.closers.push(() => proxy.close());
  return { port, metrics };
}

const meshed = (port: number, identity: string, hint: 'http' | 'unknown' = 'http') => ({ ip: '127.0.0.1', port, identity, protocolHint: hint, labels: {} });
const service = (endpoints: Update['endpoints']): Update => ({ type: 'update', exists: true, opaque: false, endpoints, service: { name: 'svc', namespace: 'shop', port: 80 } });

/** Source addresses: which destination a client "dialled". */
export const SRC = {
  h1: '127.0.0.2',
  h2: '127.0.0.3',
  foreignCa: '127.0.0.4',
  expired: '127.0.0.5',
  otherIdentity: '127.0.0.6',
} as const;

export interface Mesh {
  outboundPort: number;
  outboundMetrics: Registry;
  h1Pod: InboundPod;
  h2Pod: InboundPod;
  apps: RecordingApps;
  ca: KeyedCertificate;
  trustPem: string;
  close(): void;
}

/** The whole mesh: good h1 and h2 pods, and pods with a foreign-CA, an expired, and another identity's certificate. */
export async function startMesh(limits: HttpLimits = DEFAULT_HTTP_LIMITS): Promise<Mesh> {
  const closers: (() => void)[] = [];
  const ca = await createCa({ commonName: 'mesh root', validForMs: HOUR });
  const foreign = await createCa({ commonName: 'another trust domain', validForMs: HOUR });
  const trustPem = ca.cert.toString('pem');
  const o: PairOptions = { ca, limits, closers };
  const apps: RecordingApps = { h1Paths: [], h2Streams: 0 };
  const h1Port = await listen(h1App(apps), closers);
  const h2Port = await listen(h2App(apps), closers);
  const h1Pod = await inboundPod(h1Port, trustPem, await workloadCert(ca, { identity: SERVER_ID }), o);
  const h2Pod = await inboundPod(h2Port, trustPem, await workloadCert(ca, { identity: SERVER_ID }), o);
  // The bad pods trust the mesh root (so only their own certificate is wrong).
  const foreignPod = await inboundPod(h1Port, trustPem, await workloadCert(foreign, { identity: SERVER_ID }), o);
  const expiredPod = await inboundPod(h1Port, trustPem, await workloadCert(ca, { identity: SERVER_ID, validForMs: -60_000, backdateMs: 120_000 }), o);
  const otherPod = await inboundPod(h1Port, trustPem, await workloadCert(ca, { identity: 'someone.else.serviceaccount.identity.skein-system.cluster.local' }), o);

  const table: Record<string, Update> = {
    [`${SRC.h1}`]: service([meshed(h1Pod.port, SERVER_ID)]),
    [`${SRC.h2}`]: service([meshed(h2Pod.port, SERVER_ID)]),
    [`${SRC.foreignCa}`]: service([meshed(foreignPod.port, SERVER_ID)]),
    [`${SRC.expired}`]: service([meshed(expiredPod.port, SERVER_ID)]),
    [`${SRC.otherIdentity}`]: service([meshed(otherPod.port, SERVER_ID)]),
  };
  // The dialled address is 10.0.0.<last octet of the source>, port 80: discovery knows it by source.
  const dialled = (src: string) => ({ ip: `10.0.0.${src.split('.')[3] ?? '0'}`, port: 80 });
  const bySrc = new Map(Object.keys(table).map((src) => [`${dialled(src).ip}:80`, table[src]!]));
  const discovery = {
    watch(target: string, onUpdate: (u: Update) => void) {
      const u = bySrc.get(target) ?? { type: 'update', exists: false, opaque: false, endpoints: [] };
      const t = setImmediate(() => onUpdate(u));
      return () => clearImmediate(t);
    },
  };
  const meshTls = new MeshTls(trustPem);
  meshTls.update(await workloadCert(ca, { identity: CLIENT_ID }));
  const outboundMetrics = new Registry();
  const proxy = composeProxy({
    tls: meshTls, discovery, registry: outboundMetrics, log,
    originalDestination: (s) => ({ ...dialled(s.remoteAddress ?? ''), family: 4 }),
    timeouts: TEST_TIMEOUTS, limits, balancer: { decayMs: 20 },
  });
  const outboundPort = await listen(proxy.server('outbound'), closers);
  closers.push(() => proxy.close());
  return {
    outboundPort, outboundMetrics, h1Pod, h2Pod, apps, ca, trustPem,
    close: () => { for (const c of closers.reverse()) c(); },
  };
}

/** The value of one counter series in a Prometheus text exposition (0 when absent). */
export function counter(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : 0;
}
