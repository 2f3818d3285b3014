// The discovery API end to end: skein-controller installed from
// manifests/base, a proxy's credentials from the real identity service, the
// client watching a Service's ClusterIP through skein-discovery. Endpoints
// appear, a scale is pushed, and a kube-apiserver restart leaves the stream
// with its last good state, then changes flow again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CoreV1Api, AppsV1Api } from '@kubernetes/client-node';
import { kubeConfig, testNamespace, deployment, eventually, kubectl } from '../support/kube.ts';
import { installSkein, workloadIdentity, discoveryClient } from '../support/skein.ts';
import type { Update } from '../../api/discovery-protocol.ts';
import { IMAGES } from '../support/images.ts';

const run = promisify(execFile);
const CLUSTER = resolve(import.meta.dirname, '../cluster/cluster.ts');
const kc = kubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const apps = kc.makeApiClient(AppsV1Api);

test('a proxy watching a ClusterIP sees endpoints appear, scaling pushed, and the last good state kept across an API server restart', async (t) => {
  const { trust } = await installSkein(t);
  const ns = await testNamespace(t);
  const dir = mkdtempSync(join(tmpdir(), 'skein-discovery-e2e-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));

  // The test plays a meshed proxy: a certificate for its ServiceAccount from skein-identity, through its Service.
  const identity = await workloadIdentity(t, trust, ns, 'client');

  await core.createNamespacedService({ namespace: ns, body: { metadata: { name: 'web' }, spec: { selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 'http' }] } } });
  const web = await core.readNamespacedService({ namespace: ns, name: 'web' });
  const clusterIP = web.spec?.clusterIP ?? '';
  const client = await discoveryClient(t, trust, identity, ns);
  const seen: Update[] = [];
  client.watch(`${clusterIP}:80`, (u) => seen.push(u));
  const endpoints = (n: number) => eventually(`${n} endpoint(s) pushed for ${clusterIP}:80`, () => {
    const last = seen.at(-1);
    return Promise.resolve(last?.exists === true && last.endpoints.length === n ? last : undefined);
  }, 120_000);

  const first = await eventually('the first snapshot', () => Promise.resolve(seen[0]), 60_000);
  assert.deepEqual(first.service, { name: 'web', namespace: ns, port: 80 });
  assert.equal(first.endpoints.length, 0, 'a Service without pods exists with no endpoints');

  await apps.createNamespacedDeployment({ namespace: ns, body: deployment('web', 2, { containers: [{ name: 'echo', image: IMAGES.echo, ports: [{ name: 'http', containerPort: 8080 }], readinessProbe: { httpGet: { path: '/', port: 'http' }, periodSeconds: 1 } }] }) });
  const two = await endpoints(2);
  assert.ok(two.endpoints.every((e) => e.port === 8080), 'the named targetPort resolved to 8080');
  assert.ok(two.endpoints.every((e) => e.labels.deployment === 'web' && e.labels.namespace === ns), JSON.stringify(two.endpoints[0]?.labels));
  assert.ok(two.endpoints.every((e) => e.identity === undefined), 'the echo pods are not meshed');

  await kubectl('-n', ns, 'scale', 'deployment/web', '--replicas=3');
  await endpoints(3);

  // The API server goes away: the controller keeps serving what it knows, the stream stays up and quiet.
  const before = seen.length;
  const cluster = (...args: string[]) => run(process.execPath, [CLUSTER, ...args], { env: { ...process.env, SKEIN_CLUSTER_DIR: dirname(process.env.KUBECONFIG ?? '') }, timeout: 180_000 });
  await cluster('stop', 'kube-apiserver');
  try {
    await sleep(15_000);
    assert.equal(client.connected, true, 'discovery does not depend on the API server being up');
    assert.equal(seen.length, before, 'nothing (in particular nothing empty) was pushed while the API server was away');
  } finally {
    await cluster('up');
  }
  await kubectl('-n', ns, 'scale', 'deployment/web', '--replicas=1');
  const one = await endpoints(1);
  assert.equal(one.endpoints[0]?.port, 8080);
  assert.equal(client.connected, true);
});
