// Policy end to end through the installed skein-controller: a ServiceProfile,
// a TrafficSplit with a backend that does not exist yet and an
// AuthorizationPolicy, applied through the real API server. Their status
// conditions and Events are checked, and a proxy's discovery streams (a
// certificate from the real identity service) see each change arrive; the
// time from the API call to the pushed update is reported, not asserted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api, CustomObjectsApi, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { kubeConfig, testNamespace, eventually } from '../support/kube.ts';
import { installSkein, workloadIdentity, discoveryClient } from '../support/skein.ts';
import { identityName } from '../../api/identity-names.ts';
import type { InboundUpdate, Update } from '../../api/discovery-protocol.ts';
import type { PolicyStatusValue } from '../../api/crds/conditions.ts';
import { AUTHORIZATION_POLICY, SERVICE_PROFILE, TRAFFIC_SPLIT, type PolicyKind } from '../../operator/policy/objects.ts';
import { IMAGES } from '../support/images.ts';

const kc = kubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const custom = kc.makeApiClient(CustomObjectsApi);

/** The first message after `since` that satisfies `ok`, and how long after `since` it arrived. */
function arrival<M>(log: { at: number; m: M }[], since: number, ok: (m: M) => boolean, what: string) {
  return eventually(what, () => {
    const hit = log.find((e) => e.at >= since && ok(e.m));
    return Promise.resolve(hit ? { m: hit.m, ms: hit.at - since } : undefined);
  }, 60_000);
}

async function condition(kind: PolicyKind, ns: string, name: string, type: string, status: string, reason?: string) {
  return eventually(`${kind.kind} ${name}: ${type}=${status}${reason ? ` (${reason})` : ''}`, async () => {
    const o = await custom.getNamespacedCustomObject({ group: kind.group, version: kind.version, plural: kind.plural, namespace: ns, name }) as { metadata: { generation: number }; status?: PolicyStatusValue };
    const c = o.status?.conditions?.find((x) => x.type === type);
    const fits = c?.status === status && (reason === undefined || c.reason === reason) && c.observedGeneration === o.metadata.generation;
    return fits ? { condition: c, status: o.status } : undefined;
  }, 60_000);
}

const create = (kind: PolicyKind, ns: string, name: string, spec: unknown) => custom.createNamespacedCustomObject({
  group: kind.group, version: kind.version, plural: kind.plural, namespace: ns,
  body: { apiVersion: `${kind.group}/${kind.version}`, kind: kind.kind, metadata: { name }, spec },
});

test('ServiceProfile, TrafficSplit and AuthorizationPolicy: status, Events, and updates pushed to subscribed streams', async (t) => {
  const { trust } = await installSkein(t);
  const ns = await testNamespace(t, 'policy');
  const dir = mkdtempSync(join(tmpdir(), 'skein-policy-e2e-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));

  // The test plays the proxy of pod `app` (ServiceAccount client): its certificate from skein-identity.
  const identity = await workloadIdentity(t, trust, ns, 'client');

  const svc = (name: string, app: string) => core.createNamespacedService({ namespace: ns, body: { metadata: { name }, spec: { selector: { app }, ports: [{ name: 'http', port: 80, targetPort: 'http' }] } } });
  await svc('books', 'books');
  await svc('books-v1', 'books');
  await core.createNamespacedPod({ namespace: ns, body: { metadata: { name: 'app', labels: { app: 'books' } }, spec: { serviceAccountName: 'client', containers: [{ name: 'echo', image: IMAGES.echo, ports: [{ name: 'http', containerPort: 8080 }], readinessProbe: { httpGet: { path: '/ready', port: 'http' }, periodSeconds: 2 } }] } } });

  const client = await discoveryClient(t, trust, identity, ns);
  const updates: { at: number; m: Update }[] = [];
  const inbound: { at: number; m: InboundUpdate }[] = [];
  client.watch(`books.${ns}.svc.cluster.local:80`, (m) => updates.push({ at: Date.now(), m }));
  // The controller answers only once it has seen the pod: the client retries until then.
  client.watchInbound({ namespace: ns, pod: 'app' }, (m) => inbound.push({ at: Date.now(), m }));
  await arrival(updates, 0, (m) => m.exists, 'the first target snapshot');
  const first = await arrival(inbound, 0, () => true, 'the first inbound snapshot');
  assert.equal(first.m.defaultPolicy, 'all-unauthenticated');
  assert.deepEqual(first.m.probes, [{ port: 8080, path: '/ready' }], 'the readiness probe, its named port resolved');
  assert.deepEqual(first.m.ports, []);
  const latencies: string[] = [];

  // ServiceProfile
  const spName = `books.${ns}.svc.cluster.local`;
  let since = Date.now();
  await create(SERVICE_PROFILE, ns, spName, { routes: [{ name: 'GET /books', condition: { method: 'GET', pathRegex: '/books' }, isRetryable: true, timeout: '1500ms' }] });
  const withProfile = await arrival(updates, since, (m) => m.profile !== undefined, 'the profile pushed');
  latencies.push(`ServiceProfile ${withProfile.ms} ms`);
  assert.deepEqual(withProfile.m.profile?.routes.map((r) => [r.name, r.timeoutMs, r.isRetryable]), [['GET /books', 1500, true]]);
  assert.deepEqual(withProfile.m.profile?.retryBudget, { retryRatio: 0.2, minRetriesPerSecond: 10, ttlMs: 10_000 });
  await condition(SERVICE_PROFILE, ns, spName, 'Accepted', 'True');
  await condition(SERVICE_PROFILE, ns, spName, 'ResolvedRefs', 'True');

  // TrafficSplit with a backend that does not exist yet
  since = Date.now();
  await create(TRAFFIC_SPLIT, ns, 'books', { service: 'books', backends: [{ service: 'books-v1', weight: 90 }, { service: 'books-v2', weight: 10 }] });
  const withSplit = await arrival(updates, since, (m) => m.split !== undefined, 'the split pushed');
  latencies.push(`TrafficSplit ${withSplit.ms} ms`);
  assert.deepEqual(withSplit.m.split?.map((b) => [b.service, b.weight]), [[`books-v1.${ns}.svc.cluster.local:80`, 90], [`books-v2.${ns}.svc.cluster.local:80`, 10]]);
  await condition(TRAFFIC_SPLIT, ns, 'books', 'Accepted', 'True');
  const missing = await condition(TRAFFIC_SPLIT, ns, 'books', 'ResolvedRefs', 'False', 'BackendNotFound');
  assert.match(missing.condition?.message ?? '', /books-v2 does not exist/);
  await eventually('a Warning Event BackendNotFound on the TrafficSplit', async () => {
    const events = await core.listNamespacedEvent({ namespace: ns, fieldSelector: 'involvedObject.name=books,involvedObject.kind=TrafficSplit' });
    return events.items.find((e) => e.type === 'Warning' && e.reason === 'BackendNotFound');
  });

  // AuthorizationPolicy on the Service's named port: lands on the pod's container port
  since = Date.now();
  await create(AUTHORIZATION_POLICY, ns, 'books-from-client', { target: { service: 'books', port: 'http' }, allow: { serviceAccounts: [{ name: 'client' }], namespaces: ['skein-system'] } });
  const withAuthz = await arrival(inbound, since, (m) => m.ports.length > 0, 'the inbound authorization pushed');
  latencies.push(`AuthorizationPolicy ${withAuthz.ms} ms`);
  assert.deepEqual(withAuthz.m.ports, [{ port: 8080, authorizations: [{
    policy: `${ns}/books-from-client`, identities: [identityName('client', ns, 'cluster.local')],
    identitySuffixes: ['.skein-system.serviceaccount.identity.skein-system.cluster.local'], anyMeshed: false, unauthenticatedNetworks: [],
  }] }]);
  await condition(AUTHORIZATION_POLICY, ns, 'books-from-client', 'Accepted', 'True');
  await condition(AUTHORIZATION_POLICY, ns, 'books-from-client', 'ResolvedRefs', 'True');

  // The missing backend appears: ResolvedRefs flips, lastTransitionTime moves, Accepted's does not.
  const acceptedBefore = (await condition(TRAFFIC_SPLIT, ns, 'books', 'Accepted', 'True')).condition?.lastTransitionTime;
  await svc('books-v2', 'books-v2');
  const fixed = await condition(TRAFFIC_SPLIT, ns, 'books', 'ResolvedRefs', 'True');
  assert.notEqual(fixed.condition?.lastTransitionTime, missing.condition?.lastTransitionTime);
  assert.equal(fixed.status?.conditions?.find((c) => c.type === 'Accepted')?.lastTransitionTime, acceptedBefore);

  // A change to an existing object is pushed too.
  since = Date.now();
  await custom.patchNamespacedCustomObject({
    group: TRAFFIC_SPLIT.group, version: TRAFFIC_SPLIT.version, plural: TRAFFIC_SPLIT.plural, namespace: ns, name: 'books',
    body: [{ op: 'replace', path: '/spec/backends/1/weight', value: 50 }],
  }, setHeaderOptions('Content-Type', PatchStrategy.JsonPatch));
  const reweighted = await arrival(updates, since, (m) => m.split?.[1]?.weight === 50, 'the new weight pushed');
  latencies.push(`TrafficSplit weight change ${reweighted.ms} ms`);
  t.diagnostic(`API call to update on the stream: ${latencies.join(', ')}`);
});
