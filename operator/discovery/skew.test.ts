// Version skew on the discovery API, both directions, over real mutual TLS on
// loopback: a proxy from before negotiation against this control plane, this
// proxy against a control plane from before negotiation, and peers whose
// versions do not overlap (refused with a reason code, retried, never a crash).
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { connect, createSecureServer, type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import type { AddressInfo } from 'node:net';
import type { V1EndpointSlice, V1Service } from '@kubernetes/client-node';
import { DiscoveryClient } from '../../shared/discovery-client.ts';
import { parseMessage, WATCH_PATH, type Update } from '../../api/discovery-protocol.ts';
import { CAPABILITIES_HEADER, MIN_VERSION_HEADER, PROTOCOL_VERSION, VERSION_HEADER } from '../../api/discovery-version.ts';
import { createLogger } from '../../shared/log.ts';
import { ClusterCache } from './cache.ts';
import { DiscoveryHub } from '../hub.ts';
import { discoveryMetrics } from './metrics.ts';
import { createDiscoveryServer } from './server.ts';
import { testPki, CONTROLLER_IDENTITY, until } from './test-pki.ts';

const pki = await testPki();
const silent = createLogger('test', 'silent');

const svc: V1Service = { metadata: { name: 'web', namespace: 'shop' }, spec: { clusterIP: '10.96.0.10', ports: [{ name: 'http', port: 80 }] } };
const slice: V1EndpointSlice = {
  metadata: { name: 'web-a', namespace: 'shop', resourceVersion: '1', labels: { 'kubernetes.io/service-name': 'web' } },
  addressType: 'IPv4', ports: [{ name: 'http', port: 8080 }], endpoints: [{ addresses: ['10.0.0.1'], conditions: { ready: true } }],
};

/** This build's discovery server with one Service. */
async function currentServer(t: TestContext) {
  const cache = new ClusterCache();
  const hub = new DiscoveryHub(cache, { trustDomain: 'cluster.local' });
  hub.changed(cache.applyService('added', svc));
  hub.changed(cache.applySlice('added', slice));
  const metrics = discoveryMetrics();
  const server = createDiscoveryServer({ tls: pki.server, hub, clusterDomain: 'cluster.local', metrics, logger: silent, heartbeatMs: 100 });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => server.close());
  return { url: `https://127.0.0.1:${(server.address() as AddressInfo).port}`, metrics };
}

/** A peer playing another build's server: `answer` decides each stream. */
async function otherServer(t: TestContext, answer: (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => void) {
  const server = createSecureServer({ ...pki.server, requestCert: true, rejectUnauthorized: true });
  const seen: IncomingHttpHeaders[] = [];
  server.on('stream', (stream, headers) => { seen.push(headers); stream.on('error', () => undefined); answer(stream, headers); });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => server.close());
  return { url: `https://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

function currentClient(t: TestContext, url: string): DiscoveryClient {
  const c = new DiscoveryClient({ url, serverName: CONTROLLER_IDENTITY, credentials: () => pki.client, minBackoffMs: 20, maxBackoffMs: 200, logger: silent });
  t.after(() => c.close());
  return c;
}

/** A request as a proxy from before negotiation sends it (no version headers), or with the headers given. */
function rawWatch(t: TestContext, url: string, extra: Record<string, string> = {}): Promise<{ status: number; headers: IncomingHttpHeaders; first: string }> {
  const session = connect(url, { ...pki.client, servername: CONTROLLER_IDENTITY });
  session.on('error', () => undefined);
  t.after(() => session.destroy());
  return new Promise((resolve, reject) => {
    const req = session.request({ ':method': 'POST', ':path': WATCH_PATH, 'content-type': 'application/json', ...extra });
    let headers: IncomingHttpHeaders = {};
    let text = '';
    req.setEncoding('utf8');
    req.on('response', (h) => { headers = h; });
    req.on('data', (d: string) => {
      text += d;
      const nl = text.indexOf('\n');
      if (nl >= 0) { resolve({ status: Number(headers[':status']), headers, first: text.slice(0, nl) }); req.close(); }
    });
    req.on('end', () => resolve({ status: Number(headers[':status']), headers, first: text }));
    req.on('error', reject);
    req.end(JSON.stringify({ target: '10.96.0.10:80' }));
  });
}

test('an old proxy (no version headers) against this control plane: served at version 1, messages it can read', async (t) => {
  const { url, metrics } = await currentServer(t);
  const r = await rawWatch(t, url);
  assert.equal(r.status, 200);
  assert.equal(r.headers[VERSION_HEADER], '1', 'the stream speaks the old proxy\'s version');
  const m = parseMessage(r.first);
  assert.equal(m.type, 'update');
  assert.deepEqual(m.type === 'update' ? m.endpoints.map((e) => e.ip) : [], ['10.0.0.1']);
  assert.match(await metrics.registry.metrics(), /skein_discovery_streams_total\{kind="ip",protocol_version="1"\} 1/, 'old proxies are visible in the metrics');
});

test('this proxy against this control plane: the current version, capabilities both know', async (t) => {
  const { url, metrics } = await currentServer(t);
  const c = currentClient(t, url);
  const seen: Update[] = [];
  c.watch('10.96.0.10:80', (u) => seen.push(u));
  await until('a snapshot', () => seen.length >= 1);
  assert.equal(c.protocolVersion, PROTOCOL_VERSION);
  assert.match(await metrics.registry.metrics(), new RegExp(`protocol_version="${PROTOCOL_VERSION}"\\} 1`));
});

test('this proxy against a control plane from before negotiation: version 1, unknown fields and message types skipped, never fatal', async (t) => {
  const old = await otherServer(t, (stream) => {
    stream.respond({ ':status': 200, 'content-type': 'application/x-ndjson' });
    // A field this proxy does not know is dropped by the schema; a message type it does not know is one skipped line.
    stream.write(JSON.stringify({ type: 'update', exists: true, endpoints: [{ ip: '10.0.0.7', port: 80, weightHint: 3 }], futureField: { x: 1 } }) + '\n');
    stream.write(JSON.stringify({ type: 'route-table', routes: [] }) + '\n');
    stream.write(JSON.stringify({ type: 'update', exists: true, endpoints: [{ ip: '10.0.0.8', port: 80 }] }) + '\n');
  });
  const c = currentClient(t, old.url);
  const seen: Update[] = [];
  c.watch('10.96.0.10:80', (u) => seen.push(u));
  await until('both readable snapshots', () => seen.length >= 2);
  assert.equal(c.protocolVersion, 1);
  assert.equal(c.badLines, 1, 'the unknown message type is counted and skipped');
  assert.deepEqual(seen.map((u) => u.endpoints[0]?.ip), ['10.0.0.7', '10.0.0.8']);
  assert.equal(old.seen[0]?.[VERSION_HEADER], String(PROTOCOL_VERSION), 'the proxy states its version');
  assert.equal(old.seen[0]?.[MIN_VERSION_HEADER], '1');
  assert.match(String(old.seen[0]?.[CAPABILITIES_HEADER]), /version-negotiation/);
});

test('a proxy whose versions this control plane does not serve gets 400 protocol_version_unsupported; the server serves on', async (t) => {
  const { url } = await currentServer(t);
  const r = await rawWatch(t, url, { [VERSION_HEADER]: String(PROTOCOL_VERSION + 5), [MIN_VERSION_HEADER]: String(PROTOCOL_VERSION + 4) });
  assert.equal(r.status, 400);
  const body = JSON.parse(r.first) as { error: string; message: string };
  assert.equal(body.error, 'protocol_version_unsupported');
  assert.match(body.message, /upgrade the control plane first/);
  const bad = await rawWatch(t, url, { [VERSION_HEADER]: 'latest' });
  assert.equal(bad.status, 400);
  assert.equal((JSON.parse(bad.first) as { error: string }).error, 'protocol_version_malformed');
  assert.equal((await rawWatch(t, url)).status, 200, 'still serving');
});

test('this proxy against a control plane outside its window: nothing delivered, refused with a code, retried until the other side changes', async (t) => {
  let version = String(PROTOCOL_VERSION + 7);
  const future = await otherServer(t, (stream) => {
    stream.respond({ ':status': 200, 'content-type': 'application/x-ndjson', [VERSION_HEADER]: version });
    stream.write(JSON.stringify({ type: 'update', exists: true, endpoints: [{ ip: '10.0.0.9', port: 80 }] }) + '\n');
  });
  const c = currentClient(t, future.url);
  const seen: Update[] = [];
  c.watch('10.96.0.10:80', (u) => seen.push(u));
  await until('two refusals (the client retries)', () => c.skewRefusals >= 2);
  assert.equal(seen.length, 0, 'a stream in a version this proxy does not read delivers nothing: the last good state stays');
  // The control plane is "rolled back" into the window: the same client recovers without a restart.
  version = String(PROTOCOL_VERSION);
  await until('an update after the server changed', () => seen.length >= 1);
  assert.equal(c.protocolVersion, PROTOCOL_VERSION);
});

test('this proxy refused by a control plane with protocol_version_unsupported keeps asking (a refusal for other reasons does not)', async (t) => {
  let refuse = true;
  const srv = await otherServer(t, (stream) => {
    if (refuse) {
      stream.respond({ ':status': 400, 'content-type': 'application/json' });
      stream.end(JSON.stringify({ error: 'protocol_version_unsupported', message: 'the proxy is too old' }));
      return;
    }
    stream.respond({ ':status': 200, 'content-type': 'application/x-ndjson' });
    stream.write(JSON.stringify({ type: 'update', exists: false, endpoints: [] }) + '\n');
  });
  const c = currentClient(t, srv.url);
  const seen: Update[] = [];
  c.watch('10.96.0.10:80', (u) => seen.push(u));
  await until('retries after the refusal', () => srv.seen.length >= 3);
  assert.ok(c.skewRefusals >= 2);
  refuse = false;
  await until('served once the other side changed', () => seen.length >= 1);
});
