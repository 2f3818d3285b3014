// The Helm charts with the real helm (built from its Go module by
// scripts/helm.sh), as a Linkerd user installs Linkerd: `helm install` of
// skein-crds then skein-control-plane, the per-install trust anchor and
// issuer applied beside it (never in a chart), a meshed app talking over
// mutual TLS, `helm upgrade` changing values that must reach the cluster
// (proxy defaults into newly injected pods, the controller's replicas), and
// `helm uninstall` of both leaving nothing of Skein but the CRDs, which
// helm.sh/resource-policy: keep holds back as Helm keeps CRDs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiextensionsV1Api, AppsV1Api, CoreV1Api, type V1Pod } from '@kubernetes/client-node';
import { eventually, isNotFound, kubeConfig, kubectl } from '../support/kube.ts';
import { metrics, meshed, sum } from '../support/mesh.ts';
import { BASE, REPO, skeinLeftovers } from '../support/skein.ts';
import { helm } from '../../charts/helm.ts';
import { bootstrapIdentity, renderIdentityObjects } from '../../operator/identity/bootstrap.ts';
import { ALL_CRDS } from '../../api/crds/all.ts';

const CRDS_CHART = join(REPO, 'charts/skein-crds');
const CONTROL_PLANE = join(REPO, 'charts/skein-control-plane');
const DEPLOYMENTS = ['skein-webhook', 'skein-identity', 'skein-controller'];
const DEMO = 'skein-demo';

test('helm install, upgrade and uninstall of skein-crds and skein-control-plane', { timeout: 900_000 }, async (t) => {
  const core = kubeConfig().makeApiClient(CoreV1Api);
  const apps = kubeConfig().makeApiClient(AppsV1Api);
  const home = mkdtempSync(join(tmpdir(), 'skein-helm-'));
  // Helm's own config, cache and data in a folder of the test's, never the user's.
  const env = { ...process.env, HELM_CONFIG_HOME: join(home, 'config'), HELM_CACHE_HOME: join(home, 'cache'), HELM_DATA_HOME: join(home, 'data') };
  const h = (...args: string[]) => helm(args, env);
  t.after(async () => {
    await kubectl('delete', 'namespace', DEMO, '--ignore-not-found', '--wait=true');
    await h('uninstall', 'skein', '--ignore-not-found', '--wait').catch(() => undefined);
    await h('uninstall', 'skein-crds', '--ignore-not-found').catch(() => undefined);
    rmSync(home, { recursive: true, force: true });
  });
  // What an earlier test may have left: Helm refuses to adopt objects it did not create.
  await kubectl('delete', 'namespace', DEMO, '--ignore-not-found', '--wait=true');
  await kubectl('delete', '-k', BASE, '--ignore-not-found', '--wait=true');

  // CRDs first. Earlier tests applied them with kubectl; --take-ownership lets this
  // release adopt them, as a cluster moving from `kubectl apply` to Helm would.
  await h('install', 'skein-crds', CRDS_CHART, '--take-ownership');
  // Read, not `kubectl wait`: a CRD created a moment ago has no conditions yet, which kubectl wait reports as an error.
  const ext = kubeConfig().makeApiClient(ApiextensionsV1Api);
  for (const d of ALL_CRDS) {
    await eventually(`CRD ${d.names.plural}.${d.group} Established`, async () => {
      const crd = await ext.readCustomResourceDefinition({ name: `${d.names.plural}.${d.group}` });
      return crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True') ? true : undefined;
    }, 60_000);
  }
  // The test bed's pod and Service range as the cluster networks, as e2e/testbed/base sets them for kustomize.
  await h('install', 'skein', CONTROL_PLANE, '--set', 'clusterNetworks={198.18.0.0/15}');
  // The per-install identity, as the chart's NOTES say: generated here, applied beside the release.
  const dir = mkdtempSync(join(home, 'identity-'));
  writeFileSync(join(dir, 'identity.yaml'), renderIdentityObjects(await bootstrapIdentity('cluster.local')));
  await kubectl('apply', '-f', join(dir, 'identity.yaml'));
  for (const d of DEPLOYMENTS) await kubectl('-n', 'skein-system', 'rollout', 'status', `deployment/${d}`, '--timeout=240s');
  assert.match(await h('status', 'skein'), /STATUS: deployed/);
  const controllerEnv = (await apps.readNamespacedDeployment({ name: 'skein-controller', namespace: 'skein-system' })).spec?.template.spec?.containers[0]?.env ?? [];
  assert.equal(controllerEnv.find((e) => e.name === 'SKEIN_CLUSTER_NETWORKS')?.value, '198.18.0.0/15');

  // A meshed app: every pod injected, and echo's proxies see the client's requests over mutual TLS.
  await kubectl('apply', '-f', join(REPO, 'e2e/demo/echo.yaml'));
  await kubectl('-n', DEMO, 'rollout', 'status', 'deployment/echo', '--timeout=240s');
  await kubectl('apply', '-f', join(REPO, 'e2e/demo/client.yaml'));
  await kubectl('-n', DEMO, 'rollout', 'status', 'deployment/client', '--timeout=240s');
  const pods = (await core.listNamespacedPod({ namespace: DEMO })).items.filter((p) => p.status?.phase === 'Running');
  assert.ok(pods.length >= 4 && pods.every(meshed), pods.map((p) => p.metadata?.name).join(', '));
  const echoes = pods.filter((p) => p.metadata?.labels?.app === 'echo');
  await eventually('echo to receive the client\'s requests over mTLS', async () => {
    const mtls = (await Promise.all(echoes.map(metrics))).reduce((n, text) => n + sum(text, 'request_total', { direction: 'inbound', tls: 'true' }), 0);
    return mtls > 0 ? mtls : undefined;
  }, 120_000);

  // helm upgrade: cluster-wide proxy defaults (the webhook rolls with them) and the controller's replicas.
  await h('upgrade', 'skein', CONTROL_PLANE, '--reuse-values', '--set', 'proxyDefaults.proxy-log-level=debug', '--set', 'replicas.controller=2');
  for (const d of DEPLOYMENTS) await kubectl('-n', 'skein-system', 'rollout', 'status', `deployment/${d}`, '--timeout=240s');
  assert.equal((await apps.readNamespacedDeployment({ name: 'skein-controller', namespace: 'skein-system' })).status?.readyReplicas, 2);
  assert.match(await h('history', 'skein'), /\n2\s.*deployed\s+skein-control-plane-/);
  // Pods the upgraded webhook injects get the new default. Asked with server-side dry runs until the
  // answer changes: a webhook replica still draining after the rollout may answer the first ones.
  const proxyEnv = (p: V1Pod) => [...(p.spec?.initContainers ?? []), ...(p.spec?.containers ?? [])].find((c) => c.name === 'skein-proxy')?.env ?? [];
  const probe: V1Pod = { metadata: { generateName: 'helm-probe-' }, spec: { containers: [{ name: 'app', image: 'registry.k8s.io/pause:3.10' }] } };
  const levels: string[] = [];
  await eventually('the upgraded webhook to inject SKEIN_LOG_LEVEL=debug', async () => {
    const injected = await core.createNamespacedPod({ namespace: DEMO, body: probe, dryRun: 'All' });
    const level = proxyEnv(injected).find((e) => e.name === 'SKEIN_LOG_LEVEL')?.value ?? '(unset)';
    levels.push(level);
    return level === 'debug' ? true : undefined;
  }, 60_000).catch((err: unknown) => { throw new Error(`${(err as Error).message}; the webhook injected SKEIN_LOG_LEVEL=${levels.join(', ')}`); });

  // helm uninstall of both: nothing of Skein is left but the CRDs (and the app's namespace, which is the user's).
  await kubectl('delete', 'namespace', DEMO, '--wait=true');
  await h('uninstall', 'skein', '--wait');
  await h('uninstall', 'skein-crds');
  await eventually('namespace skein-system gone', async () => core.readNamespace({ name: 'skein-system' }).then(() => undefined, (err: unknown) => (isNotFound(err) ? true : undefined)), 180_000);
  assert.deepEqual(await skeinLeftovers(), []);
  // Helm 4 lists releases in every status by default (its --all is gone).
  assert.equal((await h('list', '-q')).split('\n').filter((r) => r === 'skein' || r === 'skein-crds').length, 0, 'no release record left');
  for (const d of ALL_CRDS) await ext.readCustomResourceDefinition({ name: `${d.names.plural}.${d.group}` });
});
