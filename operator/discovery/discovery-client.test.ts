// The client against the real discovery server over real mutual TLS on
// loopback, and against a bare HTTP/2 peer for what a healthy server never does.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createSecureServer, type Http2SecureServer, type ServerHttp2Session } from 'node:http2';
import { createServer as createTcpServer, type AddressInfo, type Socket } from 'node:net';
import type { V1EndpointSlice, V1Service } from '@kubernetes/client-node';
import { DiscoveryClient } from '../../shared/discovery-client.ts';
import type { InboundUpdate, Update } from '../../api/discovery-protocol.ts';
import { createLogger } from '../../shared/log.ts';
import { ClusterCache } from './cache.ts';
import { DiscoveryHub } from '../hub.ts';
import { discoveryMetrics } from './metrics.ts';
import { createDiscoveryServer } from './server.ts';
import { testPki, CONTROLLER_IDENTITY, until } from './test-pki.ts';

const pki = await testPki();
const silent = createLogger('test', 'silent');

/** A server that can be stopped (connections cut) and started again on the same port. */
function restartable(t: TestContext, make: () => Http2SecureServer) {
  let server: Http2SecureServer | undefined;
  let sessions = new Set<ServerHttp2Session>();
  let port = 0;
  const ctl = {
    sessionsSeen: 0,
    async start() {
      const mine = make();
      server = mine;
      server.on('session', (s) => {
        // A client reconnecting while this server is being stopped must not keep close() waiting.
        if (server !== mine) { s.destroy(); return; }
        ctl.sessionsSeen++; sessions.add(s); s.on('close', () => sessions.delete(s));
      });
      await new Promise<void>((r) => server!.listen(port, '127.0.0.1', r));
      port = (server.address() as AddressInfo).port;
    },
    async stop() {
      const s = server;
      server = undefined;
      for (const x of sessions) x.destroy();
      sessions = new Set();
      if (s) await new Promise((r) => s.close(r));
    },
    get url() { return `https://127.0.0.1:${port}`; },
  };
  t.after(() => ctl.stop());
  return ctl;
}

const svc: V1Service = { metadata: { name: 'web', namespace: 'shop' }, spec: { clusterIP: '10.96.0.10', ports: [{ name: 'http', port: 80 }] } };
const slice = (ips: string[], rv: string): V1EndpointSlice => ({
  metadata: { name: 'web-a', namespace: 'shop', resourceVersion: rv, labels: { 'kubernetes.io/service-name': 'web' } },
  addressType: 'IPv4', ports: [{ name: 'http', port: 8080 }], endpoints: ips.map((ip) => ({ addresses: [ip], conditions: { ready: true } })),
});

function realServer(t: TestContext) {
  const cache = new ClusterCache();
  const hub = new DiscoveryHub(cache, { trustDomain: 'cluster.local' });
  hub.changed(cache.applyService('added', svc));
  hub.changed(cache.applySlice('added', slice(['10.0.0.1'], '1')));
  const ctl = restartable(t, () => createDiscoveryServer({ tls: pki.server, hub, clusterDomain: 'cluster.local', metrics: discoveryMetrics(), logger: silent, heartbeatMs: 100 }));
  return { cache, hub, ctl };
}

function client(t: TestContext, url: string, extra: Partial<ConstructorParameters<typeof DiscoveryClient>[0]> = {}) {
  let credentialReads = 0;
  const c = new DiscoveryClient({
    url, serverName: CONTROLLER_IDENTITY, credentials: () => { credentialReads++; return pki.client; },
    minBackoffMs: 20, maxBackoffMs: 200, logger: silent, ...extra,
  });
  t.after(() => c.close());
  return { c, reads: () => credentialReads };
}
const ips = (u: Update | undefined) => u?.endpoints.map((e) => e.ip) ?? [];

test('watches share one session; updates arrive as the cluster changes', async (t) => {
  const { cache, hub, ctl } = realServer(t);
  await ctl.start();
  const { c } = client(t, ctl.url);
  const byIp: Update[] = [];
  const byName: Update[] = [];
  c.watch('10.96.0.10:80', (u) => byIp.push(u));
  c.watch('web.shop.svc.cluster.local:80', (u) => byName.push(u));
  await until('both snapshots', () => byIp.length >= 1 && byName.length >= 1);
  assert.equal(c.connected, true);
  assert.deepEqual(ips(byIp[0]), ['10.0.0.1']);
  hub.changed(cache.applySlice('modified', slice(['10.0.0.1', '10.0.0.2'], '2')));
  await until('pushed to both', () => ips(byIp.at(-1)).length === 2 && ips(byName.at(-1)).length === 2);
  assert.equal(ctl.sessionsSeen, 1, 'one session carries both streams');
});

test('control plane away: nothing is delivered, connected is false; back: re-subscribed with what changed meanwhile', async (t) => {
  const { cache, hub, ctl } = realServer(t);
  await ctl.start();
  const { c, reads } = client(t, ctl.url);
  const seen: Update[] = [];
  c.watch('10.96.0.10:80', (u) => seen.push(u));
  await until('snapshot', () => seen.length >= 1);
  await ctl.stop();
  await until('disconnected', () => !c.connected);
  hub.changed(cache.applySlice('modified', slice(['10.0.0.3'], '3')));
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(seen.length, 1, 'no empty or partial state is delivered while away');
  await ctl.start();
  await until('the change made meanwhile', () => ips(seen.at(-1))[0] === '10.0.0.3');
  assert.equal(c.connected, true);
  assert.equal(seen.length, 2);
  assert.ok(reads() >= 2, 'the new session read the credentials again');
});

test('connect(): connected before anything is watched, and reconnected after the server returns', async (t) => {
  const { ctl } = realServer(t);
  await ctl.start();
  const { c } = client(t, ctl.url, { silenceMs: 200 });
  assert.equal(c.connected, false, 'nothing happens before connect()');
  c.connect();
  await until('connected with no watch', () => c.connected);
  // The client's 'connect' can come before the server's 'session' event: stopping
  // in between let the first session reach a stopping server, uncounted (1 in 3 runs).
  await until('the server saw the first session', () => ctl.sessionsSeen >= 1);
  await ctl.stop();
  await until('disconnected', () => !c.connected);
  await ctl.start();
  await until('reconnected on its own, still with no watch', () => c.connected);
  await until('the server saw a second session', () => ctl.sessionsSeen >= 2);
});

test('an unreadable line is counted and skipped; the stream goes on', async (t) => {
  const ctl = restartable(t, () => {
    const s = createSecureServer({ ...pki.server, requestCert: true, rejectUnauthorized: true });
    s.on('stream', (stream) => {
      stream.respond({ ':status': 200, 'content-type': 'application/x-ndjson' });
      stream.write('{"type":"update","exists":"yes"}\n');
      stream.write('not json at all\n');
      stream.write(JSON.stringify({ type: 'update', exists: true, endpoints: [{ ip: '10.0.0.1', port: 80 }] }) + '\n');
    });
    return s;
  });
  await ctl.start();
  const { c } = client(t, ctl.url);
  const seen: Update[] = [];
  c.watch('10.96.0.10:80', (u) => seen.push(u));
  await until('the good line', () => seen.length >= 1);
  assert.equal(c.badLines, 2);
  assert.deepEqual(seen[0]?.endpoints[0], { ip: '10.0.0.1', port: 80, protocolHint: 'unknown', labels: {} }, 'defaults filled by the schema');
});

test('a session that goes silent (no heartbeat) is replaced', async (t) => {
  const ctl = restartable(t, () => {
    const s = createSecureServer({ ...pki.server, requestCert: true, rejectUnauthorized: true });
    s.on('stream', (stream) => { stream.respond({ ':status': 200 }); stream.write(JSON.stringify({ type: 'update', exists: false, endpoints: [] }) + '\n'); });
    return s;
  });
  await ctl.start();
  const { c } = client(t, ctl.url, { silenceMs: 200 });
  const seen: Update[] = [];
  c.watch('10.96.0.10:80', (u) => seen.push(u));
  await until('a second session after the silence', () => c.sessions >= 2 && seen.length >= 2, 5000);
});

test('a refused watch (400) is not asked again; other watches are unaffected', async (t) => {
  const { ctl } = realServer(t);
  await ctl.start();
  const { c } = client(t, ctl.url);
  const bad: Update[] = [];
  const good: Update[] = [];
  c.watch('no-port-here', (u) => bad.push(u));
  c.watch('10.96.0.10:80', (u) => good.push(u));
  await until('the good watch', () => good.length >= 1);
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(bad.length, 0);
  assert.equal(c.connected, true);
});

test('a server with a certificate for another name is not trusted', async (t) => {
  const ctl = restartable(t, () => createSecureServer({ ...pki.client, requestCert: true, rejectUnauthorized: true }));
  await ctl.start();
  const { c } = client(t, ctl.url);
  c.watch('10.96.0.10:80', () => undefined);
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(c.connected, false);
  assert.equal(c.sessions, 0);
});

test('watchInbound: the pod is asked for on /v1/inbound on the same session, re-subscribed after a restart, last good kept meanwhile', async (t) => {
  const asked: { path: string; body: string }[] = [];
  let policy = 'deny';
  const ctl = restartable(t, () => {
    const s = createSecureServer({ ...pki.server, requestCert: true, rejectUnauthorized: true });
    s.on('stream', (stream, headers) => {
      let body = '';
      stream.setEncoding('utf8');
      stream.on('data', (c: string) => { body += c; });
      stream.on('end', () => {
        asked.push({ path: String(headers[':path']), body });
        stream.respond({ ':status': 200, 'content-type': 'application/x-ndjson' });
        if (headers[':path'] === '/v1/inbound') stream.write(JSON.stringify({ type: 'inbound', defaultPolicy: policy, ports: [{ port: 8080, authorizations: [{ policy: 'shop/web' }] }] }) + '\n');
        else stream.write(JSON.stringify({ type: 'update', exists: true, endpoints: [] }) + '\n');
      });
    });
    return s;
  });
  await ctl.start();
  const { c } = client(t, ctl.url);
  const seen: InboundUpdate[] = [];
  const updates: Update[] = [];
  c.watchInbound({ namespace: 'shop', pod: 'books-1' }, (u) => seen.push(u));
  c.watch('10.96.0.10:80', (u) => updates.push(u));
  await until('the inbound policy and the update', () => seen.length >= 1 && updates.length >= 1);
  assert.equal(ctl.sessionsSeen, 1, 'one session carries both');
  assert.deepEqual(asked.find((a) => a.path === '/v1/inbound')?.body, JSON.stringify({ namespace: 'shop', pod: 'books-1' }));
  assert.equal(seen[0]?.defaultPolicy, 'deny');
  assert.deepEqual(seen[0]?.ports[0]?.authorizations[0], { policy: 'shop/web', identities: [], identitySuffixes: [], anyMeshed: false, unauthenticatedNetworks: [] });
  assert.equal(updates.length, 1, 'an inbound message is never delivered as an Update');
  await ctl.stop();
  await until('disconnected', () => !c.connected);
  assert.equal(seen.length, 1, 'nothing delivered while away');
  policy = 'all-authenticated';
  await ctl.start();
  await until('re-subscribed', () => seen.length >= 2);
  assert.equal(seen[1]?.defaultPolicy, 'all-authenticated');
});

test('a session that is never established (the address swallows the handshake) is given up and retried', async (t) => {
  // Accepts TCP and never answers: TLS never completes, as behind a Service address still pointing at a crashed pod.
  const sockets = new Set<Socket>();
  const server = createTcpServer((s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
  let accepted = 0;
  server.on('connection', () => { accepted++; });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise((r) => { for (const s of sockets) s.destroy(); server.close(r); }));
  const { c } = client(t, `https://127.0.0.1:${(server.address() as AddressInfo).port}`, { connectTimeoutMs: 100 });
  c.connect();
  await until('a second attempt after the first hung', () => accepted >= 2);
  assert.equal(c.connected, false);
  assert.equal(c.sessions, 0);
});
