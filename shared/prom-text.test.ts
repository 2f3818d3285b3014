// The exporter against prom-client (which it replaced in the proxy, and which
// the operator and webhook still use): the same observations give the same
// bytes, so `kubectl skein stat` and Prometheus read the proxy as before
// (proxy-image/proxy/metrics.test.ts compares the proxy's own exposition).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as prom from 'prom-client';
import { Counter, Gauge, Histogram, Registry, formatValue, processMetrics } from './prom-text.ts';

/** The same calls on either library's classes. */
function observe(lib: { Registry: new () => { metrics(): Promise<string> }; Counter: typeof Counter; Gauge: typeof Gauge; Histogram: typeof Histogram }) {
  const registry = new lib.Registry();
  const registers = [registry as Registry];
  const plain = new lib.Counter({ name: 'plain_total', help: 'no labels', registers });
  plain.inc();
  plain.inc(2.5);
  new lib.Counter({ name: 'untouched_total', help: 'never incremented', labelNames: ['a'], registers });
  const c = new lib.Counter({ name: 'request_total', help: 'help with \\ backslash\nand a newline', labelNames: ['direction', 'authority', 'route'], registers });
  c.inc({ direction: 'outbound', authority: 'web:80' });
  c.inc({ authority: 'web:80', direction: 'outbound' }, 4);
  c.inc({ direction: 'inbound', authority: 'odd "quoted" \\ value\nnext line', route: 'r' }, 1);
  const g = new lib.Gauge({ name: 'tcp_open_connections', help: 'open now', labelNames: ['direction'], registers });
  g.set({ direction: 'inbound' }, 3);
  g.set({ direction: 'outbound' }, 0);
  g.set({ direction: 'inbound' }, 1);
  const h = new lib.Histogram({ name: 'response_latency_ms', help: 'latency', labelNames: ['direction', 'status_code'], buckets: [0.1, 1, 10, 100], registers });
  for (const v of [0, 0.05, 0.1, 0.2, 3, 10, 250, 1e4]) h.observe({ direction: 'outbound', status_code: '200' }, v);
  h.observe({ direction: 'inbound', status_code: 503 }, 7.25);
  const bare = new lib.Histogram({ name: 'bare_ms', help: 'no labels', buckets: [1, 5], registers });
  bare.observe({}, 2);
  return registry.metrics();
}

test('the same observations give byte for byte what prom-client writes', async () => {
  const ours = await observe({ Registry, Counter, Gauge, Histogram });
  const theirs = await observe(prom as unknown as Parameters<typeof observe>[0]);
  assert.equal(ours, theirs);
});

test('bad input is refused with what to fix', () => {
  const r = new Registry();
  const c = new Counter({ name: 'x_total', help: 'h', labelNames: ['a'], registers: [r] });
  assert.throws(() => c.inc({ b: '1' }), /label "b" is not one of a/);
  assert.throws(() => c.inc({ a: '1' }, -1), /only goes up/);
  assert.throws(() => new Counter({ name: 'x_total', help: 'again', registers: [r] }), /already registered/);
  const h = new Histogram({ name: 'h_ms', help: 'h', labelNames: [], buckets: [1], registers: [r] });
  assert.throws(() => h.observe({}, NaN), /not a finite number/);
  // prom-client takes unsorted buckets and then writes counts that are not cumulative.
  assert.throws(() => new Histogram({ name: 'u_ms', help: 'h', buckets: [5, 1] }), /buckets must increase/);
});

test('values are spelled as Prometheus reads them', () => {
  assert.deepEqual([NaN, Infinity, -Infinity, 0.1, 1e21, 3].map(formatValue), ['Nan', '+Inf', '-Inf', '0.1', '1e+21', '3']);
});

test('process figures: the names Prometheus client libraries use, with live values', async () => {
  const r = new Registry();
  processMetrics(r);
  const text = await r.metrics();
  const value = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? -1);
  assert.ok(value('process_resident_memory_bytes') > 1e6);
  assert.ok(value('nodejs_heap_size_used_bytes') > 0);
  assert.ok(value('process_cpu_seconds_total') > 0);
  assert.ok(Math.abs(value('process_start_time_seconds') - (Date.now() / 1000 - process.uptime())) < 5);
});
