// The one assembly main.ts, the tests and the benchmark share: its defaults
// are production's, both listeners reach their direction, and the listener cap
// refuses and counts.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import { Registry } from '../../shared/prom-text.ts';
import { pino } from 'pino';
import { DEFAULT_LIMITS } from '../../api/sidecar.ts';
import { composeProxy, PRODUCTION_TIMEOUTS, type ProxyParts } from './compose.ts';
import { MeshTls } from './mesh-tls.ts';
import { counter, listen as listenOn, silentDiscovery } from './test-pair.ts';

const closers: (() => void)[] = [];
after(() => { for (const c of closers.reverse()) c(); });

const listen = (server: net.Server) => listenOn(server, closers);

const log = pino({ level: 'silent' });
const parts = (appPort: number, more: Partial<ProxyParts> = {}): ProxyParts => ({
  tls: new MeshTls(''), discovery: silentDiscovery, registry: new Registry(), log,
  originalDestination: () => ({ ip: '127.0.0.1', port: appPort, family: 4 }),
  ...more,
});

function get(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => { body += c; }).on('end', () => resolve(body));
    }).on('error', reject);
  });
}

test('without overrides the timeouts and limits are production\'s', () => {
  const proxy = composeProxy(parts(1));
  closers.push(() => proxy.close());
  assert.deepEqual(proxy.timeouts, { detectMs: 10_000, outboundConnectMs: 1_000, inboundConnectMs: 300, firstUpdateWaitConnectedMs: 10_000, firstUpdateWaitDisconnectedMs: 1_000, destinationIdleMs: 60_000 });
  assert.deepEqual(proxy.timeouts, PRODUCTION_TIMEOUTS);
  assert.deepEqual(proxy.limits, DEFAULT_LIMITS);
  assert.equal(proxy.server('inbound').maxConnections, DEFAULT_LIMITS.maxConnectionsPerListener);
});

test('an override replaces only what it names', () => {
  const proxy = composeProxy(parts(1, { timeouts: { detectMs: 5 }, limits: { maxConnectionsPerListener: 7 } }));
  closers.push(() => proxy.close());
  assert.deepEqual(proxy.timeouts, { ...PRODUCTION_TIMEOUTS, detectMs: 5 });
  assert.deepEqual(proxy.limits, { ...DEFAULT_LIMITS, maxConnectionsPerListener: 7 });
  assert.equal(proxy.server('outbound').maxConnections, 7);
});

test('both listeners reach their own direction: plaintext to the app, counted per direction', async () => {
  const appPort = await listen(http.createServer((_req, res) => res.end('app')));
  const registry = new Registry();
  // Discovery never answers, so the outbound passes the connection through after its wait.
  const proxy = composeProxy(parts(appPort, { registry, timeouts: { firstUpdateWaitDisconnectedMs: 50 } }));
  closers.push(() => proxy.close());
  assert.equal(await get(await listen(proxy.server('inbound'))), 'app');
  assert.equal(await get(await listen(proxy.server('outbound'))), 'app');
  const text = await registry.metrics();
  // The inbound speaks HTTP to the app; the outbound passes an undiscovered destination through as TCP.
  assert.ok(/^request_total\{[^}]*direction="inbound"/m.test(text), text);
  assert.ok(/^tcp_open_connections\{direction="outbound"/m.test(text), text);
});

test('a listener at its cap refuses the next connection and counts it', async () => {
  const registry = new Registry();
  const proxy = composeProxy(parts(1, { registry, limits: { maxConnectionsPerListener: 1 } }));
  closers.push(() => proxy.close());
  const port = await listen(proxy.server('inbound'));
  const held = net.connect(port, '127.0.0.1');
  await once(held, 'connect');
  closers.push(() => held.destroy());
  // The held connection stays in detection (it sends nothing), so the next one is over the cap.
  const refused = net.connect(port, '127.0.0.1');
  refused.on('error', () => {});
  await once(refused, 'close');
  const text = await registry.metrics();
  assert.equal(counter(text, 'inbound_refused_total{reason="max_connections"}'), 1, text);
});
