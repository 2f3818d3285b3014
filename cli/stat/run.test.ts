import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { V1Pod } from '@kubernetes/client-node';
import { CliError } from '../errors.ts';
import { silentProgress } from '../progress.ts';
import { meshedCounts, podRef, rowsFromProm, statFromPrometheus } from './run.ts';
import type { StatQuery } from './query.ts';

const pod = (name: string, meshed: boolean, rs?: string, hash?: string): V1Pod => ({
  metadata: {
    name, namespace: 'demo',
    labels: { ...(meshed ? { 'skein.dev/control-plane-ns': 'skein-system' } : {}), ...(hash ? { 'pod-template-hash': hash } : {}) },
    ...(rs ? { ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: rs, uid: 'u', controller: true }] } : {}),
  },
  status: { phase: 'Running' },
});

test('a pod\'s Deployment is its ReplicaSet\'s name without the template hash; bare pods have none', () => {
  assert.equal(podRef(pod('web-7d9f8b6c5d-abcde', true, 'web-7d9f8b6c5d', '7d9f8b6c5d')).deployment, 'web');
  assert.equal(podRef(pod('my-app-2-7d9f8b6c5d-abcde', true, 'my-app-2-7d9f8b6c5d', '7d9f8b6c5d')).deployment, 'my-app-2');
  assert.equal(podRef(pod('solo', true)).deployment, undefined);
  // A ReplicaSet not made by a Deployment has no hash suffix.
  assert.equal(podRef(pod('rs-abcde', true, 'rs', '7d9f8b6c5d')).deployment, undefined);
});

test('MESHED counts meshed over running pods per deployment', () => {
  const counts = meshedCounts([
    pod('web-1', true, 'web-h', 'h'), pod('web-2', false, 'web-h', 'h'), pod('api-1', true, 'api-h', 'h'),
  ], 'deploy');
  assert.deepEqual(Object.fromEntries(counts), { 'demo/web': '1/2', 'demo/api': '1/1' });
});

test('Prometheus answers join into rows; NaN quantiles (no traffic) are unknown', () => {
  const m = (extra: Record<string, string> = {}) => ({ namespace: 'demo', deployment: 'web', ...extra });
  const rows = rowsFromProm({ namespace: 'namespace', name: 'deployment' }, 30, {
    requests: [{ metric: m(), value: 2 }],
    responses: [{ metric: m({ classification: 'success' }), value: 1.5 }, { metric: m({ classification: 'failure' }), value: 0.5 }],
    p50: [{ metric: m(), value: 2.5 }], p95: [{ metric: m(), value: 4 }], p99: [{ metric: m(), value: NaN }],
  });
  assert.deepEqual(rows, [{ namespace: 'demo', name: 'web', requests: 60, rps: 2, successRate: 0.75, p50: 2.5, p95: 4, p99: undefined }]);
});

/** A stand-in Prometheus on loopback: answers each query by the first pattern it matches, else an empty vector. */
async function fakePrometheus(t: TestContext, answers: [RegExp, PromSample[]][]): Promise<{ url: string; asked: string[] }> {
  const asked: string[] = [];
  const server = createServer((req, res) => {
    const query = new URL(req.url ?? '', 'http://x').searchParams.get('query') ?? '';
    asked.push(query);
    const result = answers.find(([re]) => re.test(query))?.[1] ?? [];
    res.setHeader('content-type', 'application/json').end(JSON.stringify({ status: 'success', data: { resultType: 'vector', result } }));
  }).listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => { server.close(); });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, asked };
}
type PromSample = { metric: Record<string, string>; value: [number, string] };

const query: StatQuery = { kind: 'deploy', namespace: 'demo', windowSeconds: 30 };

test('series in the window but no rate (one sample each): stat says the window is too short, not an empty table', async (t) => {
  const prom = await fakePrometheus(t, [[/^count\(last_over_time\(request_total/, [{ metric: {}, value: [0, '3'] }]]]);
  await assert.rejects(statFromPrometheus(prom.url, query, silentProgress),
    (e: unknown) => e instanceof CliError && e.code === 'prometheus_failed' && /at most one sample .* last 30s.*--window of at least four scrape intervals/.test(e.message));
});

test('no series at all (no traffic yet): an empty table', async (t) => {
  const prom = await fakePrometheus(t, []);
  assert.deepEqual(await statFromPrometheus(prom.url, query, silentProgress), []);
  assert.equal(prom.asked.length, 6, 'five stats and the check for series');
});

test('Prometheus\'s answers as it writes them: values are strings, NaN for a quantile without observations', async (t) => {
  const m = { namespace: 'demo', deployment: 'web' };
  const prom = await fakePrometheus(t, [
    [/^sum by \(namespace, deployment\) /, [{ metric: m, value: [0, '4'] }]],
    [/^sum by \(namespace, deployment, classification\)/, [{ metric: { ...m, classification: 'success' }, value: [0, '3'] }, { metric: { ...m, classification: 'failure' }, value: [0, '1'] }]],
    [/^histogram_quantile\(0\.5,/, [{ metric: m, value: [0, '1.5'] }]],
    [/^histogram_quantile\(0\.95,/, [{ metric: m, value: [0, 'NaN'] }]],
  ]);
  const rows = await statFromPrometheus(prom.url, query, silentProgress);
  assert.deepEqual(rows, [{ namespace: 'demo', name: 'web', requests: 120, rps: 4, successRate: 0.75, p50: 1.5, p95: undefined, p99: undefined }]);
  assert.equal(prom.asked.length, 5, 'rates present: no extra question');
});
