// Scrapes made by the proxy's own metrics code (a fake clock sets the
// latencies), so the fixtures are exactly what :4191/metrics serves.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from '../../shared/prom-text.ts';
import { ProxyMetrics, type TrafficLabels } from '../../proxy-image/proxy/metrics.ts';
import { aggregate, deltas, type PodRef, type PodScrape } from './aggregate.ts';
import { parseMetrics } from './promtext.ts';
import { viewOf } from './views.ts';
import type { StatQuery } from './query.ts';

class FakeProxy {
  readonly registry = new Registry();
  now = 0;
  readonly metrics = new ProxyMetrics(this.registry, () => this.now);

  /** `count` requests that each take `ms` and answer `status`. */
  serve(labels: TrafficLabels, count: number, ms: number, status = 200): void {
    for (let i = 0; i < count; i++) {
      const r = this.metrics.request(labels);
      this.now += ms;
      r.respond(status);
    }
  }

  async scrape() { return parseMetrics(await this.registry.metrics()); }
}

const inbound: TrafficLabels = { direction: 'inbound', authority: 'web.demo.svc.cluster.local:80', targetAddr: '10.0.0.5:8080', tls: 'true', clientId: 'client.demo.serviceaccount.identity.skein-system.cluster.local' };
const toWeb: TrafficLabels = { direction: 'outbound', authority: 'web.demo.svc.cluster.local:80', targetAddr: '10.0.0.5:8080', tls: 'true', dst: { namespace: 'demo', deployment: 'web', pod: 'web-7d9f8b6c5d-abcde' } };
const webPod: PodRef = { namespace: 'demo', name: 'web-7d9f8b6c5d-abcde', deployment: 'web' };
const clientPod: PodRef = { namespace: 'demo', name: 'client-5f6d7c8b9-xyzab', deployment: 'client' };

const query = (q: Partial<StatQuery>): StatQuery => ({ kind: 'deploy', namespace: 'demo', windowSeconds: 10, ...q });

/** Traffic before the first scrape must not count: only what happened in the window. */
async function scenario(): Promise<PodScrape[]> {
  const web = new FakeProxy();
  const client = new FakeProxy();
  web.serve(inbound, 100, 50);
  client.serve(toWeb, 100, 50);
  const before = [await web.scrape(), await client.scrape()] as const;
  web.serve(inbound, 8, 3);
  web.serve(inbound, 2, 3, 503);
  client.serve(toWeb, 10, 3);
  return [
    { pod: webPod, before: before[0], after: await web.scrape() },
    { pod: clientPod, before: before[1], after: await client.scrape() },
  ];
}

test('deploy stats come from the inbound side of its pods, over the window only', async () => {
  const rows = aggregate(await scenario(), 10, viewOf(query({})));
  // The client served nothing: its row is idle.
  assert.deepEqual(rows.map((r) => [r.name, r.rps]), [['client', 0], ['web', 1]]);
  const web = rows[1];
  assert.equal(web?.name, 'web');
  assert.equal(web?.requests, 10);
  assert.equal(web?.rps, 1);
  assert.equal(web?.successRate, 0.8);
  // All 10 took 3 ms: the (2, 3] bucket; rank 5 of 10 is half way, rank 9.9 near the top.
  assert.equal(web?.p50, 2.5);
  assert.ok(Math.abs((web?.p99 ?? 0) - 2.99) < 1e-9);
});

test('pod stats name the pod; a name filter keeps only that row', async () => {
  const scrapes = await scenario();
  assert.deepEqual(aggregate(scrapes, 10, viewOf(query({ kind: 'pod' }))).map((r) => r.name), ['client-5f6d7c8b9-xyzab', 'web-7d9f8b6c5d-abcde']);
  assert.deepEqual(aggregate(scrapes, 10, viewOf(query({ kind: 'pod', name: 'web-7d9f8b6c5d-abcde' }))).map((r) => r.name), ['web-7d9f8b6c5d-abcde']);
  assert.deepEqual(aggregate(scrapes, 10, viewOf(query({ kind: 'pod', name: 'other' }))), []);
});

test('--to: the clients\' outbound side, rows are the clients; --from: rows are the servers called', async () => {
  const scrapes = await scenario();
  const to = aggregate(scrapes, 10, viewOf(query({ to: { kind: 'deploy', name: 'web', namespace: 'demo' } })));
  assert.deepEqual(to.map((r) => [r.name, r.requests, r.successRate]), [['client', 10, 1]]);
  const from = aggregate(scrapes, 10, viewOf(query({ from: { kind: 'deploy', name: 'client', namespace: 'demo' } })));
  assert.deepEqual(from.map((r) => [r.namespace, r.name, r.requests]), [['demo', 'web', 10]]);
  assert.deepEqual(aggregate(scrapes, 10, viewOf(query({ to: { kind: 'deploy', name: 'nobody', namespace: 'demo' } }))), []);
});

test('routes: outbound series by route label, [default] without one', () => {
  const scrape = (n: number) => parseMetrics([
    `request_total{direction="outbound",authority="web:80",route="GET /books"} ${n * 3}`,
    `response_total{direction="outbound",authority="web:80",route="GET /books",classification="success",status_code="200"} ${n * 3}`,
    `request_total{direction="outbound",authority="web:80"} ${n}`,
    `response_total{direction="outbound",authority="web:80",classification="failure",status_code="500"} ${n}`,
    `request_total{direction="inbound",authority="web:80"} ${n * 100}`,
    // TCP-only series (the connection's authority is the target address) make no row: stat's rows are HTTP's, as in PromQL.
    `tcp_open_total{direction="outbound",authority="10.0.0.5:8080"} ${n}`,
  ].join('\n'));
  const rows = aggregate([{ pod: clientPod, before: scrape(1), after: scrape(2) }], 1, viewOf(query({ kind: 'route' })));
  assert.deepEqual(rows.map((r) => [r.name, r.authority, r.requests, r.successRate]), [['[default]', 'web:80', 1, 0], ['GET /books', 'web:80', 3, 1]]);
});

test('a proxy that restarted in the window counts from zero', () => {
  const before = parseMetrics('request_total{direction="inbound"} 500');
  const after = parseMetrics('request_total{direction="inbound"} 4\nrequest_total{direction="inbound",authority="new"} 2');
  assert.deepEqual(deltas(before, after).map((s) => s.value), [4, 2]);
});

test('a 403 (what the proxy answers when a policy refuses) counts as a failure: a denied client is not 100 %', async () => {
  const web = new FakeProxy();
  const before = await web.scrape();
  web.serve(inbound, 6, 3);
  web.serve(inbound, 4, 3, 403);
  const rows = aggregate([{ pod: webPod, before, after: await web.scrape() }], 10, viewOf(query({})));
  assert.deepEqual(rows.map((r) => [r.name, r.requests, r.successRate]), [['web', 10, 0.6]]);
});

test('a meshed workload that served nothing in the window is a row at 0 rps, as one whose traffic stopped', async () => {
  const idle = new FakeProxy();
  const idlePod: PodRef = { namespace: 'other', name: 'quiet-6c5d4b3a2-qwert', deployment: 'quiet' };
  const scrapes = [...await scenario(), { pod: idlePod, before: await idle.scrape(), after: await idle.scrape() }];
  const all = aggregate(scrapes, 10, viewOf(query({ namespace: undefined })));
  assert.deepEqual(all.map((r) => [r.namespace, r.name, r.rps, r.successRate, r.p50]), [
    ['demo', 'client', 0, undefined, undefined], ['demo', 'web', 1, 0.8, 2.5], ['other', 'quiet', 0, undefined, undefined],
  ]);
  assert.deepEqual(aggregate(scrapes, 10, viewOf(query({ kind: 'pod', name: 'quiet-6c5d4b3a2-qwert', namespace: 'other' }))).map((r) => r.name), ['quiet-6c5d4b3a2-qwert']);
  // Edges list only who called whom: an idle pod is no edge.
  assert.deepEqual(aggregate(scrapes, 10, viewOf(query({ to: { kind: 'deploy', name: 'web', namespace: 'demo' } }))).map((r) => r.name), ['client']);
});
