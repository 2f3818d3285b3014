// Restricted and profile-driven splits on the real cluster (issue #8): a
// TrafficSplit v1alpha4 whose `matches` name an HTTPRouteGroup sends only the
// requests with `x-canary: yes` to v2 while the others stay on the root
// Service (v1), as Flagger's A/B testing sets it up; a ServiceProfile's
// dstOverrides move all of another Service's traffic to v2; a split naming a
// missing HTTPRouteGroup is reported (ResolvedRefs False and an Event). One
// load run of three clients serves every traffic check.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AppsV1Api, CoreV1Api, CustomObjectsApi, type V1Pod } from '@kubernetes/client-node';
import { kubeConfig, eventually } from '../support/kube.ts';
import { installSkein } from '../support/skein.ts';
import { run, readyPods, clusterIP, lastReport, meshedNamespace, type LoadReport } from '../support/mesh.ts';
import type { PolicyStatusValue } from '../../api/crds/conditions.ts';
import { HTTP_ROUTE_GROUP, SERVICE_PROFILE, TRAFFIC_SPLIT, type PolicyKind } from '../../operator/policy/objects.ts';
import { IMAGES } from '../support/images.ts';

const kc = kubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const apps = kc.makeApiClient(AppsV1Api);
const custom = kc.makeApiClient(CustomObjectsApi);
const ECHO = IMAGES.echo;
const LOAD = IMAGES.load;
const name = (pod: V1Pod | undefined) => pod?.metadata?.name ?? '';
/** Requests each client must get right after its split is in effect. */
const MEASURED = 200;

const create = (kind: PolicyKind, ns: string, objectName: string, spec: unknown) => custom.createNamespacedCustomObject({
  group: kind.group, version: kind.version, plural: kind.plural, namespace: ns,
  body: { apiVersion: `${kind.group}/${kind.version}`, kind: kind.kind, metadata: { name: objectName }, spec },
});

async function resolvedRefs(kind: PolicyKind, ns: string, objectName: string, status: 'True' | 'False') {
  return eventually(`${kind.kind} ${objectName}: ResolvedRefs=${status}`, async () => {
    const o = await custom.getNamespacedCustomObject({ group: kind.group, version: kind.version, plural: kind.plural, namespace: ns, name: objectName }) as { status?: PolicyStatusValue };
    const c = o.status?.conditions?.find((x) => x.type === 'ResolvedRefs');
    return c?.status === status ? c : undefined;
  }, 60_000);
}

/** Requests answered since `from`, by pod-name prefix, and the failures among them. */
function answered(from: LoadReport, to: LoadReport): { n: number; byPrefix: (prefix: string) => number; failed: number } {
  const deltas = Object.entries(to.byPod).map(([pod, count]) => [pod, count - (from.byPod[pod] ?? 0)] as const);
  const failures = (r: LoadReport) => Object.values(r.failed).reduce((a, b) => a + b, 0);
  return {
    n: deltas.reduce((a, [, d]) => a + d, 0),
    byPrefix: (prefix) => deltas.filter(([pod]) => pod.startsWith(prefix)).reduce((a, [, d]) => a + d, 0),
    failed: failures(to) - failures(from),
  };
}

/** A report whose window since `from` holds at least `n` answered requests. */
async function reportAfter(ns: string, pod: string, from: LoadReport, n: number): Promise<LoadReport> {
  return eventually(`${n} more requests from ${pod}`, async () => {
    const r = await lastReport<LoadReport>(ns, pod);
    return r && answered(from, r).n >= n ? r : undefined;
  }, 60_000);
}

test('TrafficSplit matches on an HTTPRouteGroup header, ServiceProfile dstOverrides, a missing route group reported', { timeout: 300_000 }, async (t) => {
  await installSkein(t);
  const ns = await meshedNamespace(t);
  await core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: 'books' } } });
  for (const version of ['v1', 'v2']) {
    const labels = { app: 'books', version };
    await apps.createNamespacedDeployment({ namespace: ns, body: {
      metadata: { name: `books-${version}` },
      spec: { replicas: 1, selector: { matchLabels: labels }, template: { metadata: { labels }, spec: { serviceAccountName: 'books', containers: [{
        name: 'app', image: ECHO, ports: [{ containerPort: 8080 }], env: [{ name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }],
      }] } } },
    } });
  }
  // As Flagger arranges it: the root Service selects the primary (v1) only; books-v2 is the canary.
  const service = (svc: string, version: string) => core.createNamespacedService({ namespace: ns, body: {
    metadata: { name: svc }, spec: { selector: { app: 'books', version }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] },
  } });
  await Promise.all([service('books', 'v1'), service('books-v1', 'v1'), service('books-v2', 'v2'), service('authors', 'v1')]);

  await create(HTTP_ROUTE_GROUP, ns, 'canary-users', { matches: [{ name: 'insider', headers: { 'x-canary': 'yes' } }] });
  await create(TRAFFIC_SPLIT, ns, 'books', {
    service: 'books', matches: [{ kind: 'HTTPRouteGroup', name: 'canary-users', apiGroup: 'specs.smi-spec.io' }],
    backends: [{ service: 'books-v1', weight: 0 }, { service: 'books-v2', weight: 100 }],
  });
  await create(SERVICE_PROFILE, ns, `authors.${ns}.svc.cluster.local`, { dstOverrides: [{ authority: `books-v2.${ns}.svc.cluster.local:80`, weight: 1 }] });
  // A split whose route group does not exist: reported, and it does not apply (its root is never called here).
  await create(TRAFFIC_SPLIT, ns, 'ghost', { service: 'books-v1', matches: [{ kind: 'HTTPRouteGroup', name: 'nobody' }], backends: [{ service: 'books-v2', weight: 1 }] });
  await readyPods(ns, 'books', 2);
  await resolvedRefs(TRAFFIC_SPLIT, ns, 'books', 'True');

  const books = `http://${await clusterIP(ns, 'books')}/`;
  const clients = [
    { app: 'canary', env: { TARGET: books, HEADERS: JSON.stringify({ 'x-canary': 'yes' }) }, expect: 'books-v2-' },
    { app: 'plain', env: { TARGET: books, HEADERS: JSON.stringify({ 'x-canary': 'no' }) }, expect: 'books-v1-' },
    { app: 'authors', env: { TARGET: `http://${await clusterIP(ns, 'authors')}/` }, expect: 'books-v2-' },
  ];
  await Promise.all(clients.map((c) => run(ns, { name: c.app, image: LOAD, sa: 'web', env: { ...c.env, RPS: '50' } })));
  const pods = await Promise.all(clients.map(async (c) => name((await readyPods(ns, c.app, 1))[0])));

  await t.test('the missing HTTPRouteGroup is ResolvedRefs False with a Warning Event', async () => {
    const c = await resolvedRefs(TRAFFIC_SPLIT, ns, 'ghost', 'False');
    assert.equal(c.reason, 'RouteGroupNotFound');
    assert.match(c.message, new RegExp(`HTTPRouteGroup ${ns}/nobody \\(spec\\.matches\\[0\\]\\) does not exist`));
    await eventually('the RouteGroupNotFound Event', async () => {
      const events = await core.listNamespacedEvent({ namespace: ns, fieldSelector: 'involvedObject.name=ghost' });
      return events.items.find((e) => e.reason === 'RouteGroupNotFound' && e.type === 'Warning');
    }, 30_000);
  });

  await t.test(`each client's requests go all to its expected version: ≥${MEASURED} each, zero failures`, async () => {
    await Promise.all(clients.map(async (c, i) => {
      const pod = pods[i] ?? '';
      const first = await eventually(`a report from ${pod}`, () => lastReport<LoadReport>(ns, pod), 60_000);
      // In effect once a window of 50 answers is all on the expected version (proxies may start before the first push).
      let start = first;
      let lastWindow = 'no window yet';
      await eventually(`${c.app}: all on ${c.expect}*`, async () => {
        const next = await reportAfter(ns, pod, start, 50);
        const w = answered(start, next);
        lastWindow = `${w.byPrefix(c.expect)}/${w.n} on ${c.expect}*, by pod ${JSON.stringify(Object.fromEntries(Object.entries(next.byPod).map(([p, k]) => [p, k - (start.byPod[p] ?? 0)])))}`;
        start = next;
        return w.byPrefix(c.expect) === w.n ? next : undefined;
      }, 60_000).catch((err: unknown) => { throw new Error(`${err instanceof Error ? err.message : String(err)}; last window: ${lastWindow}`, { cause: err }); });
      const end = await reportAfter(ns, pod, start, MEASURED);
      const w = answered(start, end);
      t.diagnostic(`${c.app}: ${w.byPrefix(c.expect)}/${w.n} answered by ${c.expect}*, ${w.failed} failed`);
      assert.equal(w.byPrefix(c.expect), w.n, `${c.app}: every request answered by ${c.expect}*`);
      assert.ok(w.n >= MEASURED, `${c.app}: ${w.n} requests measured`);
      assert.equal(w.failed, 0, `${c.app}: no request failed`);
    }));
  });
});
