import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type ClientHttp2Session } from 'node:http2';
import { X509Certificate } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import type { TestContext } from 'node:test';
import type { AddressInfo } from 'node:net';
import type { V1Service } from '@kubernetes/client-node';
import { createLogger } from '../../shared/log.ts';
import { createCa } from '../../shared/tls.ts';
import { WATCH_PATH, INBOUND_PATH, parseMessage } from '../../api/discovery-protocol.ts';
import { ClusterCache, serviceAccountOf } from './cache.ts';
import { DiscoveryHub } from '../hub.ts';
import { discoveryMetrics } from './metrics.ts';
import { createDiscoveryServer, tlsOptions, identityOwner } from './server.ts';
import { testPki, leaf, CONTROLLER_IDENTITY, until, type Pem } from './test-pki.ts';

const pki = await testPki();

async function start(t: TestContext, opts: { maxStreamsPerConnection?: number; heartbeatMs?: number } = {}) {
  const cache = new ClusterCache();
  const hub = new DiscoveryHub(cache, { trustDomain: 'cluster.local' });
  const metrics = discoveryMetrics();
  const server = createDiscoveryServer({
    tls: pki.server, hub, clusterDomain: 'cluster.local', metrics, logger: createLogger('test', 'silent'),
    podServiceAccount: (ns, pod) => serviceAccountOf(cache, ns, pod), ...opts,
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const sessions: ClientHttp2Session[] = [];
  t.after(() => { for (const s of sessions) s.destroy(); server.close(); });
  const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const session = (creds: Pem = pki.client) => {
    const s = connect(url, { ...creds, servername: CONTROLLER_IDENTITY });
    s.on('error', () => undefined);
    sessions.push(s);
    return s;
  };
  return { cache, hub, metrics, server, session, url };
}

/** One request, its status and whole body (for refusals, which end). */
function call(s: ClientHttp2Session, headers: Record<string, string>, body: string | Buffer): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = s.request(headers);
    let status = 0;
    let text = '';
    req.on('response', (h) => { status = Number(h[':status']); });
    req.setEncoding('utf8');
    req.on('data', (d: string) => { text += d; });
    req.on('end', () => resolve({ status, body: text }));
    req.on('error', reject);
    req.end(body);
  });
}
const watchHeaders = { ':method': 'POST', ':path': WATCH_PATH, 'content-type': 'application/json' };

/** Opens a watch and collects its lines as they come. */
function watch(s: ClientHttp2Session, target: string) {
  const lines: unknown[] = [];
  const req = s.request(watchHeaders);
  let buf = '';
  req.setEncoding('utf8');
  req.on('data', (d: string) => {
    buf += d;
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) { lines.push(parseMessage(buf.slice(0, i))); buf = buf.slice(i + 1); }
  });
  req.on('error', () => undefined);
  req.end(JSON.stringify({ target }));
  return { req, lines };
}
const svc: V1Service = { metadata: { name: 'web', namespace: 'shop' }, spec: { clusterIP: '10.96.0.10', ports: [{ name: 'http', port: 80 }] } };

test('a watch streams the snapshot, pushes changes, sends heartbeats, and knows its peer by certificate', async (t) => {
  const { cache, hub, metrics, session } = await start(t, { heartbeatMs: 50 });
  const w = watch(session(), '10.96.0.10:80');
  await until('first snapshot', () => w.lines.length >= 1);
  assert.deepEqual(w.lines[0], { type: 'update', exists: false, opaque: false, endpoints: [] });
  hub.changed(cache.applyService('added', svc));
  await until('pushed update', () => w.lines.some((l) => (l as { exists?: boolean }).exists === true));
  await until('a heartbeat', () => w.lines.some((l) => (l as { type: string }).type === 'heartbeat'));
  const text = await metrics.registry.metrics();
  assert.match(text, /skein_discovery_streams_open 1/);
  assert.match(text, /skein_discovery_updates_sent_total 2/);
  assert.match(text, /skein_discovery_peer_streams_total\{identity="web\.shop\.serviceaccount\.identity\.skein-system\.cluster\.local"\} 1/);
  w.req.close();
  await until('stream closed on the server', () => hub.targets === 0);
});

test('a name outside the cluster domain is "nothing there", not an error', async (t) => {
  const { session } = await start(t);
  const w = watch(session(), 'example.com:443');
  await until('snapshot', () => w.lines.length >= 1);
  assert.deepEqual(w.lines[0], { type: 'update', exists: false, opaque: false, endpoints: [] });
});

test('malformed requests get a status and a reason code, and the server keeps serving', async (t) => {
  const { session, metrics } = await start(t);
  const s = session();
  const cases: [Record<string, string>, string | Buffer, number, string][] = [
    [watchHeaders, 'not json', 400, 'json_malformed'],
    [watchHeaders, '{"namespace": "x"}', 400, 'request_invalid'],
    [watchHeaders, '{"target": "10.0.0.1"}', 400, 'target_malformed'],
    [watchHeaders, Buffer.alloc(10_000, 0x20), 413, 'body_too_large'],
    [{ ...watchHeaders, ':path': '/v2/watch' }, '{}', 404, 'not_found'],
    [{ ...watchHeaders, ':method': 'PUT' }, '{}', 405, 'method_not_allowed'],
  ];
  for (const [headers, body, status, code] of cases) {
    const r = await call(s, headers, body);
    assert.equal(r.status, status, `${code}: ${r.body}`);
    const parsed = JSON.parse(r.body) as { error: string; message: string };
    assert.equal(parsed.error, code);
    assert.ok(parsed.message.length > 10, 'the message says what to fix');
  }
  assert.match(await metrics.registry.metrics(), /skein_discovery_errors_total\{reason="body_too_large"\} 1/);
  const w = watch(s, '10.96.0.10:80');
  await until('a good watch on the same connection', () => w.lines.length >= 1);
});

test('clients without a certificate, or with one from another CA, do not get in', async (t) => {
  const { url, metrics } = await start(t);
  const other = await leaf(await createCa({ commonName: 'other', validForMs: 3_600_000 }), 'web.shop.serviceaccount.identity.skein-system.cluster.local', ['client']);
  for (const creds of [{ ca: pki.client.ca }, { ...other, ca: pki.client.ca }]) {
    const s = connect(url, { ...creds, servername: CONTROLLER_IDENTITY });
    const outcome = await new Promise<string>((resolve) => {
      s.on('error', (e: Error) => resolve(e.message));
      s.on('close', () => resolve('closed'));
      const req = s.request(watchHeaders);
      req.on('error', (e: Error) => resolve(e.message));
      req.on('close', () => resolve('closed'));
      req.on('response', () => resolve('answered'));
      req.end('{"target":"10.96.0.10:80"}');
    });
    s.destroy();
    assert.notEqual(outcome, 'answered');
  }
  const counted = async () => /skein_discovery_errors_total\{reason="tls_handshake"\} 2/.test(await metrics.registry.metrics());
  for (let i = 0; i < 100 && !await counted(); i++) await new Promise((r) => setTimeout(r, 20));
  assert.ok(await counted(), 'both refusals counted');
});

test('streams per connection are bounded: the server advertises the limit and does not serve a stream over it', async (t) => {
  const { session } = await start(t, { maxStreamsPerConnection: 3 });
  const s = session();
  const settings = await new Promise<{ maxConcurrentStreams?: number }>((r) => s.once('remoteSettings', r));
  assert.equal(settings.maxConcurrentStreams, 3);
  const ws = [1, 2, 3].map((i) => watch(s, `10.96.0.${i}:80`));
  await until('three streams', () => ws.every((w) => w.lines.length >= 1));
  const extra = watch(s, '10.96.0.4:80');
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(extra.lines.length, 0, 'no fourth stream is served while three are open');
  assert.ok(ws.every((w) => !w.req.closed), 'the three keep streaming');
  const fresh = watch(session(), '10.96.0.4:80');
  await until('another connection is served', () => fresh.lines.length >= 1);
});

test('the serving certificate is swapped in place: new connections see the new one, open streams stay', async (t) => {
  const { server, session } = await start(t);
  const w = watch(session(), '10.96.0.10:80');
  await until('stream', () => w.lines.length >= 1);
  const renewed = await leaf(pki.ca, CONTROLLER_IDENTITY, ['server']);
  server.setSecureContext(tlsOptions({ ...renewed, ca: pki.server.ca }));
  const s2 = session();
  const serial = await new Promise<string>((resolve) => s2.once('connect', () => resolve((s2.socket as TLSSocket).getPeerX509Certificate()?.serialNumber ?? '')));
  assert.equal(serial, new X509Certificate(renewed.cert).serialNumber);
  assert.equal(w.req.closed, false);
});

test("inbound: a proxy gets its own pod's policy, and only its own", async (t) => {
  const { cache, session } = await start(t);
  const mk = (name: string, sa: string) => ({ metadata: { name, namespace: 'shop' }, spec: { serviceAccountName: sa, containers: [{ name: 'app' }] }, status: { phase: 'Running' as const, podIP: '10.0.0.1' } });
  cache.applyPod('added', mk('mine', 'web'));
  cache.applyPod('added', mk('theirs', 'db'));
  const s = session();
  const inboundHeaders = { ':method': 'POST', ':path': INBOUND_PATH, 'content-type': 'application/json' };
  assert.equal((await call(s, inboundHeaders, JSON.stringify({ namespace: 'shop', pod: 'theirs' }))).status, 403, 'another ServiceAccount\'s pod');
  assert.equal((await call(s, inboundHeaders, JSON.stringify({ namespace: 'other', pod: 'mine' }))).status, 403, 'another namespace');
  assert.equal((await call(s, inboundHeaders, JSON.stringify({ namespace: 'shop', pod: 'unknown' }))).status, 404, 'a pod not seen yet');
  const req = s.request(inboundHeaders);
  let buf = '';
  req.setEncoding('utf8');
  req.on('data', (d: string) => { buf += d; });
  req.on('error', () => undefined);
  req.end(JSON.stringify({ namespace: 'shop', pod: 'mine' }));
  await until('the first inbound snapshot', () => buf.includes('\n'));
  const first = parseMessage(buf.slice(0, buf.indexOf('\n')));
  assert.equal(first.type, 'inbound');
  assert.equal(first.type === 'inbound' ? first.defaultPolicy : '', 'all-unauthenticated');
  req.close();
});

test('identityOwner reads the ServiceAccount and namespace of a workload identity', () => {
  assert.deepEqual(identityOwner('web.v1.shop.serviceaccount.identity.skein-system.cluster.local'), { serviceAccount: 'web.v1', namespace: 'shop' });
  assert.equal(identityOwner('unknown'), undefined);
});
