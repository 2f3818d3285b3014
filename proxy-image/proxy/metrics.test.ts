import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Registry, processMetrics } from '../../shared/prom-text.ts';
import { ProxyMetrics, classify, trafficLabelValues, MAX_AUTHORITIES, OVERFLOW_AUTHORITY, type TrafficLabels } from './metrics.ts';

function setup() {
  const registry = new Registry();
  let clock = 0;
  const metrics = new ProxyMetrics(registry, () => clock);
  /** The sample lines of one metric family, in the registry's order. */
  const series = async (name: string): Promise<string[]> =>
    (await registry.metrics()).split('\n').filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));
  return { registry, metrics, series, advance: (ms: number) => { clock += ms; } };
}

const outbound: TrafficLabels = {
  direction: 'outbound', authority: 'web.shop.svc.cluster.local:80', targetAddr: '10.1.0.7:8080', tls: 'true',
  serverId: 'web.shop.serviceaccount.identity.skein-system.cluster.local',
  dst: { namespace: 'shop', pod: 'web-6d5f-abcde', serviceaccount: 'web', replicaset: 'web-6d5f', deployment: 'web', 'pod-template-hash': '6d5f' },
};
const OUT = 'direction="outbound",authority="web.shop.svc.cluster.local:80",target_addr="10.1.0.7:8080",tls="true",'
  + 'server_id="web.shop.serviceaccount.identity.skein-system.cluster.local",dst_namespace="shop",dst_deployment="web",dst_replicaset="web-6d5f",dst_pod="web-6d5f-abcde",dst_serviceaccount="web"';

test('classify: 5xx and gRPC errors fail, everything else succeeds', () => {
  assert.equal(classify(200), 'success');
  assert.equal(classify(404), 'success');
  assert.equal(classify(499), 'success');
  assert.equal(classify(500), 'failure');
  assert.equal(classify(503), 'failure');
  assert.equal(classify(200, 0), 'success');
  assert.equal(classify(200, 14), 'failure');
});

test('trafficLabelValues leaves absent identities and unknown dst keys out', () => {
  assert.deepEqual(trafficLabelValues({ direction: 'inbound', authority: 'a:80', targetAddr: '127.0.0.1:80', tls: 'no_identity', dst: { zone: 'z1', namespace: '' } }), {
    direction: 'inbound', authority: 'a:80', target_addr: '127.0.0.1:80', tls: 'no_identity',
  });
});

test('a request and its response: counts, status, classification and latency', async () => {
  const { metrics, series, advance } = setup();
  const r = metrics.request(outbound);
  assert.deepEqual(await series('request_total'), [`request_total{${OUT}} 1`]);
  assert.deepEqual(await series('response_total'), []);
  advance(7);
  r.respond(200);
  r.respond(500); // a second answer to the same request is ignored
  const resp = `${OUT},status_code="200",classification="success"`;
  assert.deepEqual(await series('response_total'), [`response_total{${resp}} 1`]);
  const latency = await series('response_latency_ms_bucket');
  assert.ok(latency.includes(`response_latency_ms_bucket{le="5",${resp}} 0`), latency.join('\n'));
  assert.ok(latency.includes(`response_latency_ms_bucket{le="10",${resp}} 1`));
  assert.deepEqual(await series('response_latency_ms_sum'), [`response_latency_ms_sum{${resp}} 7`]);
  assert.deepEqual(await series('response_latency_ms_count'), [`response_latency_ms_count{${resp}} 1`]);
});

test('the latency histogram resolves sub-millisecond hops', async () => {
  const { metrics, series, advance } = setup();
  const r = metrics.request(outbound);
  advance(0.2);
  r.respond(204);
  const buckets = await series('response_latency_ms_bucket');
  assert.ok(buckets.some((l) => l.startsWith('response_latency_ms_bucket{le="0.1",') && l.endsWith(' 0')));
  assert.ok(buckets.some((l) => l.startsWith('response_latency_ms_bucket{le="0.25",') && l.endsWith(' 1')));
});

test('responses the proxy produced carry the error; gRPC failures are failures', async () => {
  const { metrics, series } = setup();
  const inbound: TrafficLabels = { direction: 'inbound', authority: 'api:9000', targetAddr: '127.0.0.1:9000', tls: 'true', clientId: 'client.ns.serviceaccount.identity.skein-system.cluster.local' };
  metrics.request(inbound).respond(502, { error: 'connection_refused' });
  metrics.request(inbound).respond(200, { grpcStatus: 14 });
  const IN = 'direction="inbound",authority="api:9000",target_addr="127.0.0.1:9000",tls="true",client_id="client.ns.serviceaccount.identity.skein-system.cluster.local"';
  assert.deepEqual(await series('response_total'), [
    `response_total{${IN},status_code="502",classification="failure",error="connection_refused"} 1`,
    `response_total{${IN},status_code="200",classification="failure"} 1`,
  ]);
});

test('connections: opens, closes, bytes and the open gauge', async () => {
  const { metrics, series } = setup();
  const a = metrics.connection(outbound);
  const b = metrics.connection(outbound);
  a.read(100);
  a.read(20);
  a.wrote(7);
  assert.deepEqual(await series('tcp_open_total'), [`tcp_open_total{${OUT}} 2`]);
  assert.deepEqual(await series('tcp_open_connections'), [`tcp_open_connections{${OUT}} 2`]);
  // Bytes of open connections are visible at scrape time, not only at close.
  assert.deepEqual(await series('tcp_read_bytes_total'), [`tcp_read_bytes_total{${OUT}} 120`]);
  assert.deepEqual(await series('tcp_write_bytes_total'), [`tcp_write_bytes_total{${OUT}} 7`]);
  a.read(5);
  a.close();
  a.close();
  b.wrote(1);
  b.close();
  assert.deepEqual(await series('tcp_close_total'), [`tcp_close_total{${OUT}} 2`]);
  assert.deepEqual(await series('tcp_open_connections'), [`tcp_open_connections{${OUT}} 0`]);
  assert.deepEqual(await series('tcp_read_bytes_total'), [`tcp_read_bytes_total{${OUT}} 125`]);
  assert.deepEqual(await series('tcp_write_bytes_total'), [`tcp_write_bytes_total{${OUT}} 8`]);
});

test('refusals and protocol errors are counted by fixed reasons', async () => {
  const { metrics, series } = setup();
  metrics.refused('inbound', 'unauthorized');
  metrics.refused('inbound', 'unauthorized');
  metrics.refused('outbound', 'loop');
  metrics.protocolError('inbound', 'http1');
  assert.deepEqual(await series('inbound_refused_total'), ['inbound_refused_total{reason="unauthorized"} 2']);
  assert.deepEqual(await series('outbound_refused_total'), ['outbound_refused_total{reason="loop"} 1']);
  assert.deepEqual(await series('protocol_error_total'), ['protocol_error_total{direction="inbound",protocol="http1"} 1']);
});

test('authorities beyond the cap are folded into one series', async () => {
  const { metrics, series } = setup();
  for (let i = 0; i < MAX_AUTHORITIES + 50; i++) metrics.request({ ...outbound, authority: `host-${i}:80`, dst: {} });
  const lines = await series('request_total');
  assert.equal(lines.length, MAX_AUTHORITIES + 1);
  assert.ok(lines.includes(`request_total{direction="outbound",authority="${OVERFLOW_AUTHORITY}",target_addr="10.1.0.7:8080",tls="true",server_id="${outbound.serverId}"} 50`));
  // Authorities already seen keep their own series.
  metrics.request({ ...outbound, authority: 'host-0:80', dst: {} });
  assert.ok((await series('request_total')).some((l) => l.includes('authority="host-0:80"') && l.endsWith(' 2')));
});

test('metric names do not collide as prefixes of one another', async () => {
  const { registry } = setup();
  const names = (await registry.metrics()).split('\n').filter((l) => l.startsWith('# TYPE ')).map((l) => l.split(' ')[2] ?? '');
  assert.ok(names.length >= 10, `families: ${names.join(', ')}`);
  for (const a of names) for (const b of names) if (a !== b) assert.ok(!b.startsWith(`${a}_`), `${b} starts with ${a}_`);
});

// testdata/proxy-metrics.prom is what the proxy served with prom-client (ProxyMetrics at 239b30e on
// prom-client 15.1.3) after exactly these calls: the proxy's exposition has not changed by a byte,
// except for families added since (mirror_total, from the Gateway API's RequestMirror), which only add lines.
test("the proxy's metrics read as they did with prom-client", async () => {
  const registry = new Registry();
  let clock = 0;
  const m = new ProxyMetrics(registry, () => clock);
  const out: TrafficLabels = { direction: 'outbound', authority: 'web.shop.svc.cluster.local:80', targetAddr: '10.1.0.7:8080', tls: 'true', serverId: 'web.shop', dst: { namespace: 'shop', pod: 'web-1' }, route: 'GET /' };
  for (const [ms, status] of [[0.3, 200], [12, 503], [0.05, 200], [2500, 200]] as const) {
    const r = m.request(out);
    clock += ms;
    r.respond(status, status === 503 ? { error: 'connect_failed' } : {});
  }
  const g = m.request({ direction: 'inbound', authority: 'grpc.shop:9090', targetAddr: '127.0.0.1:9090', tls: 'true', clientId: 'web.shop' });
  clock += 1;
  g.respond(200, { grpcStatus: 14 });
  const conn = m.connection({ direction: 'inbound', authority: 'a:80', targetAddr: '127.0.0.1:80', tls: 'no_identity' });
  conn.read(100);
  conn.wrote(2000);
  m.refused('inbound', 'unauthorized');
  m.retry('web.shop:80', 'GET /', 'retried');
  m.ejected('web.shop:80', '10.1.0.7:8080');
  m.protocolError('outbound', 'http1');
  const first = await registry.metrics();
  conn.close();
  conn.read(5);
  const second = await registry.metrics();
  assert.equal(second, await readFile(join(import.meta.dirname, 'testdata/proxy-metrics.prom'), 'utf8'));
  assert.notEqual(first, second);
});

// Prometheus's own parser (promtool, from the prometheus package scripts/system-deps.sh installs). Its linter
// also flags the `_ms` unit of Linkerd's names, which stay as they are for dashboards: only a parse error fails.
const promtool = ['/usr/bin/promtool', '/usr/local/bin/promtool'].find((p) => existsSync(p));
test("Prometheus's text parser reads the proxy's whole exposition", { skip: promtool === undefined && 'promtool is not installed' }, async () => {
  const registry = new Registry();
  processMetrics(registry);
  const m = new ProxyMetrics(registry);
  m.request({ direction: 'outbound', authority: 'odd "host"\\:80', targetAddr: '10.1.0.7:8080', tls: 'true', dst: { pod: 'p\nq' } }).respond(503, { error: 'connect_failed' });
  m.connection({ direction: 'inbound', authority: 'a:80', targetAddr: '127.0.0.1:80', tls: 'false' }).wrote(10);
  m.refused('outbound', 'no_endpoint');
  const text = await registry.metrics();
  const check = (input: string) => new Promise<{ code: number; output: string }>((resolve) => {
    const p = execFile(promtool!, ['check', 'metrics'], (err, stdout, stderr) => resolve({ code: err ? Number(err.code) : 0, output: stdout + stderr }));
    p.stdin?.end(input);
  });
  const ours = await check(text);
  assert.doesNotMatch(ours.output, /pars/i);
  assert.ok(ours.code === 0 || ours.code === 3, `promtool exit ${ours.code}: ${ours.output}`);
  // The same check fails on a malformed line, so passing means something.
  const broken = await check(text.replace('tls="false"', 'tls="false'));
  assert.equal(broken.code, 1);
  assert.match(broken.output, /parsing error/);
});
