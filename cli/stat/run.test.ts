import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { V1Pod } from '@kubernetes/client-node';
import { CliError } from '../errors.ts';
import { silentProgress } from '../progress.ts';
import { meshedCounts, podRef, rowsFromProm, statFromPrometheus } from './run.ts';
import type { StatQuery } from './query.ts';

const execFileAsync = promisify(execFile);

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
    (e: unknown) => e instanceof CliError && e.code === 'PrometheusFailed' && /at most one sample .* last 30s.*--window of at least four scrape intervals/.test(e.message));
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

/** A stand-in API server on loopback (plain HTTP): namespaces that exist, the pods it lists, 403 for reading some namespaces. */
async function fakeApiServer(t: TestContext, o: { namespaces: string[]; forbidden?: string[]; pods?: V1Pod[] }): Promise<string> {
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '', 'http://x').pathname;
    const reply = (code: number, body: unknown) => res.writeHead(code, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    const ns = /^\/api\/v1\/namespaces\/([^/]+)$/.exec(path)?.[1];
    const podsIn = /^\/api\/v1\/namespaces\/([^/]+)\/pods$/.exec(path)?.[1];
    const status = (code: number, reason: string) => ({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason, code });
    if (ns !== undefined && o.forbidden?.includes(ns)) return reply(403, status(403, 'Forbidden'));
    if (ns !== undefined) return o.namespaces.includes(ns) ? reply(200, { kind: 'Namespace', apiVersion: 'v1', metadata: { name: ns } }) : reply(404, status(404, 'NotFound'));
    // As the API server does: listing the pods of a namespace that does not exist is an empty list, not a 404.
    if (podsIn !== undefined) return reply(200, { kind: 'PodList', apiVersion: 'v1', metadata: {}, items: (o.pods ?? []).filter((p) => p.metadata?.namespace === podsIn) });
    if (path === '/api/v1/pods') return reply(200, { kind: 'PodList', apiVersion: 'v1', metadata: {}, items: o.pods ?? [] });
    reply(404, status(404, 'NotFound'));
  }).listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => { server.close(); });
  const dir = mkdtempSync(join(tmpdir(), 'skein-stat-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'kubeconfig');
  writeFileSync(file, JSON.stringify({
    apiVersion: 'v1', kind: 'Config', 'current-context': 'fake',
    clusters: [{ name: 'fake', cluster: { server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, 'insecure-skip-tls-verify': true } }],
    users: [{ name: 'fake', user: { token: 't' } }],
    contexts: [{ name: 'fake', context: { cluster: 'fake', user: 'fake' } }],
  }));
  return file;
}

/** `kubectl skein stat ...` as a process (its exit code and output are what the user sees). */
async function statCli(kubeconfig: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const main = join(import.meta.dirname, '..', 'main.ts');
  try {
    const { stdout, stderr } = await execFileAsync(process.execPath, [main, 'stat', ...args, '--kubeconfig', kubeconfig, '--window', '1s'], { timeout: 30_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

test('stat -n of a namespace that does not exist says so and exits 1, instead of "No traffic found"', async (t) => {
  const kubeconfig = await fakeApiServer(t, { namespaces: ['demo'] });
  const missing = await statCli(kubeconfig, 'pod', '-n', 'nonexistent');
  assert.equal(missing.code, 1, missing.stderr);
  assert.equal(missing.stdout, '');
  assert.match(missing.stderr, /namespace "nonexistent" does not exist; check the name/);
  const edge = await statCli(kubeconfig, 'deploy', '-n', 'demo', '--to', 'deploy/web', '--to-namespace', 'typo');
  assert.equal(edge.code, 1);
  assert.match(edge.stderr, /namespace "typo" does not exist/);
});

test('stat of an existing namespace without traffic is an empty table; a namespace the user may not read is not called missing', async (t) => {
  const kubeconfig = await fakeApiServer(t, { namespaces: ['demo'], forbidden: ['locked'] });
  for (const ns of ['demo', 'locked']) {
    const r = await statCli(kubeconfig, 'pod', '-n', ns);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'No traffic found in the last 1s.\n');
  }
});

test('Prometheus path: meshed workloads without series are listed idle, as on the pod proxy path', async (t) => {
  const m = { namespace: 'demo', deployment: 'web' };
  const prom = await fakePrometheus(t, [[/^sum by \(namespace, deployment\) /, [{ metric: m, value: [0, '4'] }]]]);
  const meshed = () => Promise.resolve([{ namespace: 'demo', name: 'web-7d9f8b6c5d-abcde', deployment: 'web' }, { namespace: 'demo', name: 'quiet-6c5d4b3a2-qwert', deployment: 'quiet' }]);
  const rows = await statFromPrometheus(prom.url, query, silentProgress, meshed);
  assert.deepEqual(rows.map((r) => [r.name, r.rps, r.successRate]), [['quiet', 0, undefined], ['web', 4, undefined]]);
});
