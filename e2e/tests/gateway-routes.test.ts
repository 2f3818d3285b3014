// Gateway API mesh routing on the real cluster (issue #20): HTTPRoute and
// GRPCRoute with a Service as parent, as Flagger and Argo Rollouts drive
// them. One meshed namespace, steady bounded load from echo clients:
//   - a header-matched rule sends `x-canary: yes` to v2, the rest by weight;
//   - a canary by weights 100/0 → 50/50 → 0/100 while the load runs: zero failed requests;
//   - a mirror to a Service that answers in 1 s with 500s: the client sees no failure (its
//     p50/p99 with and without the mirror are printed, never asserted: numbers, not timings);
//   - a GRPCRoute splitting Say between two gRPC servers;
//   - bad input: a parentRef and a backendRef naming nothing, a regex that could backtrack,
//     two routes that tie: status conditions that say what to fix, and traffic keeps flowing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { loadavg } from 'node:os';
import { CustomObjectsApi, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { kubeConfig, eventually, kubectl } from '../support/kube.ts';
import { installSkein, REPO } from '../support/skein.ts';
import { run, readyPods, clusterIP, lastReport, meshedNamespace, metrics, sum, type LoadReport } from '../support/mesh.ts';
import { IMAGES } from '../support/images.ts';
import { GRPC_ROUTE, HTTP_ROUTE, type PolicyKind } from '../../operator/policy/objects.ts';
import { MESH_CONTROLLER_NAME } from '../../api/crds/gateway-route.ts';
import type { RouteStatusValue } from '../../operator/gateway/status.ts';

const kc = kubeConfig();
const custom = kc.makeApiClient(CustomObjectsApi);
const svcParent = (name: string) => ({ group: '', kind: 'Service', name, port: 80 });

async function apply(kind: PolicyKind, ns: string, name: string, spec: unknown): Promise<void> {
  const body = { apiVersion: `${kind.group}/${kind.version}`, kind: kind.kind, metadata: { name, namespace: ns }, spec };
  await custom.patchNamespacedCustomObject({ group: kind.group, version: kind.version, plural: kind.plural, namespace: ns, name, body, fieldManager: 'e2e', force: true },
    setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply));
}

/** Our status.parents entry's condition `type` once it has `status` (and the route's current generation). */
async function condition(kind: PolicyKind, ns: string, name: string, type: string, status: 'True' | 'False') {
  return eventually(`${kind.kind} ${name}: ${type}=${status}`, async () => {
    const o = await custom.getNamespacedCustomObject({ group: kind.group, version: kind.version, plural: kind.plural, namespace: ns, name }) as { metadata?: { generation?: number }; status?: RouteStatusValue };
    const ours = o.status?.parents?.find((p) => p.controllerName === MESH_CONTROLLER_NAME);
    const c = ours?.conditions.find((x) => x.type === type);
    return c?.status === status && c.observedGeneration === o.metadata?.generation ? c : undefined;
  }, 60_000);
}

/** Answers since `from`, by pod-name prefix, and the failures among them. */
function window(from: LoadReport, to: LoadReport) {
  const deltas = Object.entries(to.byPod).map(([pod, n]) => [pod, n - (from.byPod[pod] ?? 0)] as const);
  const failures = (r: LoadReport) => Object.values(r.failed).reduce((a, b) => a + b, 0);
  return { n: deltas.reduce((a, [, d]) => a + d, 0), on: (prefix: string) => deltas.filter(([p]) => p.startsWith(prefix)).reduce((a, [, d]) => a + d, 0), failed: failures(to) - failures(from) };
}

async function reportAfter(ns: string, pod: string, from: LoadReport | undefined, n: number): Promise<LoadReport> {
  return eventually(`${n} more answers to ${pod}`, async () => {
    const r = await lastReport<LoadReport>(ns, pod);
    return r && (!from || window(from, r).n >= n) ? r : undefined;
  }, 90_000);
}

/** Waits until a window of `n` answers is all on `prefix`; returns the report it ended on. */
async function settled(ns: string, pod: string, prefix: string, n = 50): Promise<LoadReport> {
  let start = await reportAfter(ns, pod, undefined, 0);
  return eventually(`${pod}: all on ${prefix}*`, async () => {
    const next = await reportAfter(ns, pod, start, n);
    const w = window(start, next);
    start = next;
    return w.on(prefix) === w.n ? next : undefined;
  }, 90_000);
}

test('HTTPRoute and GRPCRoute on Services: header match, canary by weights, mirror, gRPC split, bad input', { timeout: 600_000 }, async (t) => {
  await kubectl('apply', '--server-side', '-k', join(REPO, 'crds/gateway-api'));
  await kubectl('wait', '--for=condition=Established', 'crd/httproutes.gateway.networking.k8s.io', 'crd/grpcroutes.gateway.networking.k8s.io', '--timeout=60s');
  await installSkein(t);
  const ns = await meshedNamespace(t);
  await Promise.all([
    run(ns, { name: 'books', image: IMAGES.echo, sa: 'books', port: 8080 }),
    run(ns, { name: 'books-v2', image: IMAGES.echo, sa: 'books', port: 8080 }),
    run(ns, { name: 'shadow', image: IMAGES.echo, sa: 'shadow', port: 8080, env: { DELAY_MS: '1000', FAIL_RATE: '1' } }),
    run(ns, { name: 'greeter', image: IMAGES.grpc, sa: 'greeter', port: 9090 }),
    run(ns, { name: 'greeter-v2', image: IMAGES.grpc, sa: 'greeter', port: 9090 }),
  ]);
  await Promise.all([readyPods(ns, 'books', 1), readyPods(ns, 'books-v2', 1), readyPods(ns, 'shadow', 1), readyPods(ns, 'greeter', 1), readyPods(ns, 'greeter-v2', 1)]);
  const books = `http://${await clusterIP(ns, 'books')}/`;
  const canaryRule = { name: 'canary-users', matches: [{ headers: [{ name: 'x-canary', value: 'yes' }] }], backendRefs: [{ name: 'books-v2', port: 80 }] };
  const weighted = (v1: number, v2: number, extra: object = {}) => ({ parentRefs: [svcParent('books')], rules: [canaryRule, { name: 'by-weight', backendRefs: [{ name: 'books', port: 80, weight: v1 }, { name: 'books-v2', port: 80, weight: v2 }], ...extra }] });
  await apply(HTTP_ROUTE, ns, 'books', weighted(100, 0));
  await condition(HTTP_ROUTE, ns, 'books', 'Accepted', 'True');
  await condition(HTTP_ROUTE, ns, 'books', 'ResolvedRefs', 'True');

  // Bounded load: 40 requests/s each for at most 8 minutes; the test stops them sooner with its namespace.
  await run(ns, { name: 'insider', image: IMAGES.load, sa: 'web', env: { TARGET: books, RPS: '40', DURATION: '480', HEADERS: JSON.stringify({ 'x-canary': 'yes' }) } });
  await run(ns, { name: 'steady', image: IMAGES.load, sa: 'web', env: { TARGET: books, RPS: '40', DURATION: '480' } });
  const [insider] = await readyPods(ns, 'insider', 1);
  const [steady] = await readyPods(ns, 'steady', 1);
  const insiderPod = insider?.metadata?.name ?? '';
  const steadyPod = steady?.metadata?.name ?? '';

  await t.test('a header-matched rule sends x-canary: yes to v2 while the rest stays on v1 (weight 0 on v2)', async () => {
    const a = await settled(ns, insiderPod, 'books-v2-');
    const b = await settled(ns, steadyPod, 'books-');
    const w = window(b, await reportAfter(ns, steadyPod, b, 100));
    assert.equal(w.on('books-v2-'), 0, 'weight 0: v2 got none of the plain requests');
    const i = window(a, await reportAfter(ns, insiderPod, a, 100));
    assert.equal(i.on('books-v2-'), i.n, 'every x-canary request on v2');
    assert.equal(w.failed + i.failed, 0);
  });

  await t.test('canary by weights 100/0 → 50/50 → 0/100 under steady load: zero failed requests', async () => {
    const start = await reportAfter(ns, steadyPod, undefined, 0);
    await apply(HTTP_ROUTE, ns, 'books', weighted(50, 50));
    const mid = await eventually('both versions answer at 50/50', async () => {
      const r = await reportAfter(ns, steadyPod, start, 100);
      const w = window(start, r);
      return w.on('books-v2-') > 0 && w.on('books-v2-') < w.n ? r : undefined;
    }, 90_000);
    await apply(HTTP_ROUTE, ns, 'books', weighted(0, 100));
    const end = await settled(ns, steadyPod, 'books-v2-');
    const after = await reportAfter(ns, steadyPod, end, 200);
    const whole = window(start, after);
    t.diagnostic(`steady: ${whole.n} answers during the shift (${window(start, mid).on('books-v2-')}/${window(start, mid).n} on v2 at 50/50), ${whole.failed} failed; last report ${JSON.stringify(after.failed)}`);
    assert.equal(whole.failed, 0, `no request failed while the weights moved: ${JSON.stringify(after.failures ?? [])}`);
    assert.equal(window(end, after).on('books-v2-'), window(end, after).n);
  });

  await t.test('a mirror that answers in 1 s and always fails is invisible to the client; its copies are counted', async () => {
    const before = await reportAfter(ns, steadyPod, undefined, 0);
    const baseline = await reportAfter(ns, steadyPod, before, 200) as LoadReport & { p50Ms: number; p99Ms: number };
    await apply(HTTP_ROUTE, ns, 'books', weighted(0, 100, { filters: [{ type: 'RequestMirror', requestMirror: { backendRef: { name: 'shadow', port: 80 } } }] }));
    await condition(HTTP_ROUTE, ns, 'books', 'Accepted', 'True');
    const copies = await eventually('the mirror gets copies', async () => {
      const n = sum(await metrics(steady!), 'mirror_total', { dst_service: `shadow.${ns}.svc.cluster.local:80`, result: 'failed' });
      return n >= 100 ? n : undefined;
    }, 90_000);
    const from = await reportAfter(ns, steadyPod, undefined, 0);
    const mirrored = await reportAfter(ns, steadyPod, from, 400) as LoadReport & { p50Ms: number; p99Ms: number };
    const w = window(from, mirrored);
    t.diagnostic(`mirror copies failed (as the shadow app does): ${copies}; client p50/p99 before the mirror ${baseline.p50Ms}/${baseline.p99Ms} ms, with it ${mirrored.p50Ms}/${mirrored.p99Ms} ms (cumulative over the client's run; load average ${loadavg().map((x) => x.toFixed(1)).join(' ')})`);
    assert.equal(w.failed, 0, 'the mirror\'s 500s never reach the client');
    assert.equal(w.on('shadow-'), 0, 'no client answer came from the mirror');
  });

  await t.test('a GRPCRoute splits Say between two gRPC Services', async () => {
    await apply(GRPC_ROUTE, ns, 'greeter', { parentRefs: [{ group: '', kind: 'Service', name: 'greeter', port: 9090 }], rules: [{
      matches: [{ method: { service: 'skein.test.Echo' } }],
      backendRefs: [{ name: 'greeter', port: 9090, weight: 50 }, { name: 'greeter-v2', port: 9090, weight: 50 }],
    }] });
    await condition(GRPC_ROUTE, ns, 'greeter', 'Accepted', 'True');
    await run(ns, { name: 'grpc-client', image: IMAGES.grpc, sa: 'web', env: { MODE: 'client', TARGET: `${await clusterIP(ns, 'greeter')}:9090` } });
    const [client] = await readyPods(ns, 'grpc-client', 1);
    const report = await eventually('Say answered by both versions', async () => {
      const r = await lastReport<{ unaryOk: number; errors: Record<string, number>; pods: Record<string, number> }>(ns, client?.metadata?.name ?? '');
      const pods = Object.keys(r?.pods ?? {});
      return r && pods.some((p) => p.startsWith('greeter-v2-')) && pods.some((p) => !p.startsWith('greeter-v2-')) && r.unaryOk >= 20 ? r : undefined;
    }, 120_000);
    t.diagnostic(`gRPC Say by pod: ${JSON.stringify(report.pods)}, errors ${JSON.stringify(report.errors)}`);
    assert.deepEqual(report.errors, {});
  });

  await t.test('bad input: status says what to fix, traffic keeps flowing on the last good configuration', async () => {
    const from = await reportAfter(ns, steadyPod, undefined, 0);
    await apply(HTTP_ROUTE, ns, 'orphan', { parentRefs: [svcParent('nothing-here')], rules: [{ backendRefs: [{ name: 'books', port: 80 }] }] });
    const orphan = await condition(HTTP_ROUTE, ns, 'orphan', 'Accepted', 'False');
    assert.equal(orphan.reason, 'NoMatchingParent');
    assert.match(orphan.message, new RegExp(`Service ${ns}/nothing-here does not exist`));
    await apply(HTTP_ROUTE, ns, 'dangling', { parentRefs: [svcParent('books-v2')], rules: [{ backendRefs: [{ name: 'gone', port: 80 }] }] });
    const dangling = await condition(HTTP_ROUTE, ns, 'dangling', 'ResolvedRefs', 'False');
    assert.equal(dangling.reason, 'BackendNotFound');
    // The live route edited into a regex that could backtrack: refused, the previous version keeps routing.
    await apply(HTTP_ROUTE, ns, 'books', { parentRefs: [svcParent('books')], rules: [{ matches: [{ path: { type: 'RegularExpression', value: '/(a+)+b' } }], backendRefs: [{ name: 'books', port: 80 }] }] });
    const bad = await condition(HTTP_ROUTE, ns, 'books', 'Accepted', 'False');
    assert.equal(bad.reason, 'UnsupportedValue');
    assert.match(bad.message, /spec\.rules\[0\]\.matches\[0\]\.path\.value/);
    // A newer route with the same match: Accepted, told which route wins.
    await apply(HTTP_ROUTE, ns, 'books-copy', weighted(100, 0));
    const tie = await condition(HTTP_ROUTE, ns, 'books-copy', 'Accepted', 'True');
    assert.match(tie.message, new RegExp(`ties with the same match of HTTPRoute ${ns}/books, which is older`));
    const after = await reportAfter(ns, steadyPod, from, 200);
    const w = window(from, after);
    t.diagnostic(`during the bad input: ${w.n} answers, ${w.on('books-v2-')} on v2 (the last good route: 0/100), ${w.failed} failed`);
    assert.equal(w.failed, 0);
    assert.equal(w.on('books-v2-'), w.n, 'the last good version (all on v2) kept routing');
  });
});
