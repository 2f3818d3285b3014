// The flows alone, on their TCP paths (the HTTP ones are proxy.test.ts's):
// what the outbound does with a destination it cannot balance and with an
// address discovery does not know, and what the inbound does with a
// connection its policy refuses.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net, { type AddressInfo, type Socket } from 'node:net';
import { after, test } from 'node:test';
import { pino } from 'pino';
import { Registry } from '../../shared/prom-text.ts';
import type { Endpoint, Update } from '../../api/discovery-protocol.ts';
import { defaultOnly } from './authz.ts';
import { BalanceLayer } from './balance.ts';
import { p2cPeakEwma } from './balancer.ts';
import { Destination, Destinations } from './destinations.ts';
import { EndpointLayer } from './endpoint.ts';
import { InboundFlow } from './inbound-flow.ts';
import { InboundAuthorizer } from './inbound-route.ts';
import { ProxyMetrics } from './metrics.ts';
import { OutboundFlow } from './outbound-flow.ts';
import { OutboundRouter } from './route.ts';
import { counter } from './test-pair.ts';

const log = pino({ level: 'silent' });
const echo = net.createServer({ allowHalfOpen: true }, (s) => s.pipe(s));
await new Promise<void>((r) => echo.listen(0, '127.0.0.1', () => r()));
const echoPort = (echo.address() as AddressInfo).port;
after(() => echo.close());

/** A connected pair: `server` is what a proxy layer gets, `client` the app's end. */
async function pair(): Promise<{ server: Socket; client: Socket }> {
  const l = net.createServer({ allowHalfOpen: true });
  await new Promise<void>((r) => l.listen(0, '127.0.0.1', () => r()));
  const client = net.connect((l.address() as AddressInfo).port, '127.0.0.1');
  const [server] = await once(l, 'connection') as [Socket];
  l.close();
  client.on('error', () => {});
  return { server, client };
}

function outbound(registry: Registry) {
  const metrics = new ProxyMetrics(registry);
  const destinations = new Destinations({ discovery: { watch: () => () => {} }, balancer: () => p2cPeakEwma<Endpoint>((e) => e.ip), idleMs: 60_000 });
  const endpoints = new EndpointLayer({ connectTimeoutMs: 1_000, idleMs: 5_000 });
  after(() => { destinations.close(); endpoints.close(); });
  const router = new OutboundRouter({ destinations, firstUpdateWaitMs: () => 10, honourOverride: true, clusterDomain: 'cluster.local', random: Math.random, log });
  return new OutboundFlow({ router, balance: new BalanceLayer(), endpoints, metrics, log, idleMs: 5_000, connectTimeoutMs: 1_000 });
}

test('outbound TCP to a destination with no ready endpoint: closed and counted as no_ready_endpoint', async () => {
  const registry = new Registry();
  const flow = outbound(registry);
  const d = new Destination('198.18.0.10:5432', () => p2cPeakEwma<Endpoint>((e) => e.ip));
  d.apply({ type: 'update', exists: true, opaque: true, endpoints: [] } satisfies Update);
  const { server, client } = await pair();
  await flow.tcp(server, { destination: d, original: { ip: '198.18.0.10', port: 5432, family: 4 }, h2: false });
  await once(client, 'close');
  assert.equal(counter(await registry.metrics(), 'outbound_refused_total{reason="no_ready_endpoint"}'), 1);
});

test('an address discovery does not know is passed through to where it was going, bytes both ways, counted as tls="false"', async () => {
  const registry = new Registry();
  const flow = outbound(registry);
  const { server, client } = await pair();
  await flow.passThrough(server, { ip: '127.0.0.1', port: echoPort, family: 4 });
  client.end('ping');
  let got = '';
  client.setEncoding('utf8').on('data', (c: string) => { got += c; });
  await once(client, 'end');
  assert.equal(got, 'ping');
  assert.match(await registry.metrics(), new RegExp(`^tcp_open_connections\\{direction="outbound",authority="127\\.0\\.0\\.1:${echoPort}"[^}]*tls="false"`, 'm'));
});

test('inbound TCP the policy refuses: closed and counted; admitted TCP reaches the app', async () => {
  const registry = new Registry();
  const metrics = new ProxyMetrics(registry);
  const app = new EndpointLayer({ connectTimeoutMs: 1_000, idleMs: 5_000 });
  after(() => app.close());
  let policy = defaultOnly('deny');
  const flow = new InboundFlow({ authz: new InboundAuthorizer(metrics, () => policy), app, appHost: '127.0.0.1', metrics, idleMs: 5_000, connectTimeoutMs: 1_000 });
  const ctx = { appPort: echoPort, clientId: undefined, clientIp: '198.18.0.20', h2: false };
  const refused = await pair();
  flow.tcp(refused.server, ctx);
  await once(refused.client, 'close');
  assert.equal(counter(await registry.metrics(), 'inbound_refused_total{reason="unauthorized_deny"}'), 1);
  policy = defaultOnly('all-unauthenticated');
  const admitted = await pair();
  flow.tcp(admitted.server, ctx);
  admitted.client.end('pong');
  let got = '';
  admitted.client.setEncoding('utf8').on('data', (c: string) => { got += c; });
  await once(admitted.client, 'end');
  assert.equal(got, 'pong');
});
