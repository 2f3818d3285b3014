import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseMetrics } from './promtext.ts';

test('parses samples with labels, escapes, +Inf and no labels; skips HELP/TYPE and timestamps', () => {
  const text = [
    '# HELP request_total HTTP requests',
    '# TYPE request_total counter',
    'request_total{direction="inbound",authority="web.demo:80",client_id="a\\"b\\\\c"} 42',
    'response_latency_ms_bucket{le="+Inf",direction="inbound"} 7 1700000000000',
    'process_start_time_seconds 1.5e9',
    '',
  ].join('\n');
  assert.deepEqual(parseMetrics(text), [
    { name: 'request_total', labels: { direction: 'inbound', authority: 'web.demo:80', client_id: 'a"b\\c' }, value: 42 },
    { name: 'response_latency_ms_bucket', labels: { le: '+Inf', direction: 'inbound' }, value: 7 },
    { name: 'process_start_time_seconds', labels: {}, value: 1.5e9 },
  ]);
});

test('a label value with a comma, brace or equals sign stays whole', () => {
  assert.deepEqual(parseMetrics('x{a="1,b=2}",c="3"} 1')[0]?.labels, { a: '1,b=2}', c: '3' });
});

test('a malformed line names its line number', () => {
  assert.throws(() => parseMetrics('ok 1\nbad{a=1} 2'), /metrics line 2/);
  assert.throws(() => parseMetrics('x{a="1"} notanumber'), /metrics line 1: bad value/);
});

test('NaN and Inf in any case, as Prometheus reads them (prom-client writes "Nan" for an empty event-loop histogram)', () => {
  const values = parseMetrics('a Nan\nb NaN\nc nan\nd +Inf\ne -inf\nf Inf').map((s) => s.value);
  assert.deepEqual(values, [NaN, NaN, NaN, Infinity, -Infinity, Infinity]);
  assert.throws(() => parseMetrics('x{a="1"}'), /metrics line 1: bad value ""/);
});
