// The charts against the kustomizations they are generated from, with the
// real helm (scripts/helm.sh) and kubectl (the cluster's build): the
// committed chart is what the generator makes now, and `helm template` of
// it renders the same objects as `kubectl kustomize`, with the default
// values (base) and with values-ha.yaml (the ha overlay), object by object.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { CRDS_DIR, GATEWAY_CRDS_DIR, overlayDir, parseObjects, type KubeObject } from '../cli/manifests.ts';
import { kustomize } from '../cli/kubectl.ts';
import { CHARTS_DIR, GATEWAY_CRDS_VALUE, generateCharts, haValuesOf, KEEP_ANNOTATION, type ChartFiles } from './generate.ts';
import { helm } from './helm.ts';

const run = promisify(execFile);
const REPO = join(import.meta.dirname, '..');
const CONTROL_PLANE = join(CHARTS_DIR, 'skein-control-plane');
const CRDS_CHART = join(CHARTS_DIR, 'skein-crds');
// A version `kubeVersion: >=1.29` admits, so rendering needs no cluster.
const KUBE_VERSION = ['--kube-version', '1.35.4'];

/** The cluster's kubectl, as manifests/manifests.test.ts finds it. */
let kubectlPath: Promise<string> | undefined;
function kubectl(): Promise<string> {
  kubectlPath ??= (async () => {
    const bin = process.env.SKEIN_K8S_BIN ?? (await run(join(REPO, 'e2e/cluster/build-binaries.sh'), { maxBuffer: 64 * 1024 * 1024 })).stdout.trim().split('\n').pop() ?? '';
    return join(bin, 'kubectl');
  })();
  return kubectlPath;
}

const keyOf = (o: KubeObject) => `${o.kind} ${o.metadata.namespace ?? ''}/${o.metadata.name}`;

function byKey(objects: readonly KubeObject[]): Map<string, KubeObject> {
  const map = new Map<string, KubeObject>();
  for (const o of objects) {
    assert.ok(!map.has(keyOf(o)), `${keyOf(o)} is rendered twice`);
    map.set(keyOf(o), o);
  }
  return map;
}

/** Same objects, same content: the first difference is named by its object. */
function assertSameObjects(chart: readonly KubeObject[], kustomized: readonly KubeObject[]): void {
  const [a, b] = [byKey(chart), byKey(kustomized)];
  assert.deepEqual([...a.keys()].sort(), [...b.keys()].sort(), 'the chart and kustomize render the same objects');
  for (const [k, o] of a) assert.deepEqual(o, b.get(k), `${k} differs between the chart and kustomize`);
}

function filesIn(dir: string): ChartFiles {
  const files: ChartFiles = {};
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const path = join(d, name);
      if (statSync(path).isDirectory()) walk(path); else files[relative(dir, path)] = readFileSync(path, 'utf8');
    }
  };
  walk(dir);
  return files;
}

const template = async (chart: string, ...args: string[]) => parseObjects(await helm(['template', 'skein', chart, ...KUBE_VERSION, ...args]));
const render = async (dir: string) => parseObjects(await kustomize(dir, await kubectl()));

test('the committed charts are what charts/generate.ts makes from crds/ and manifests/ now (run it after changing them)', async () => {
  const generated = await generateCharts(await kubectl());
  for (const [chart, files] of Object.entries(generated)) {
    const onDisk = filesIn(join(CHARTS_DIR, chart));
    assert.deepEqual(Object.keys(onDisk).sort(), Object.keys(files).sort(), `${chart}: the same files`);
    for (const [file, text] of Object.entries(files)) assert.equal(onDisk[file], text, `charts/${chart}/${file} is stale: run node charts/generate.ts`);
  }
});

test('skein-control-plane with its default values renders exactly manifests/base', async () => {
  assertSameObjects(await template(CONTROL_PLANE), await render(overlayDir('base')));
});

test('skein-control-plane with values-ha.yaml renders exactly manifests/overlays/ha', async () => {
  assertSameObjects(await template(CONTROL_PLANE, '-f', join(CONTROL_PLANE, 'values-ha.yaml')), await render(overlayDir('ha')));
});

/** The objects without the keep annotation, after checking each has it. */
const kept = (objects: KubeObject[]) => objects.map((o) => {
  const annotations = { ...(o.metadata.annotations as Record<string, string>) };
  assert.equal(annotations['helm.sh/resource-policy'], KEEP_ANNOTATION['helm.sh/resource-policy'], keyOf(o));
  delete annotations['helm.sh/resource-policy'];
  return { ...o, metadata: { ...o.metadata, annotations } };
});

test('skein-crds renders exactly crds/, each CRD kept on uninstall (helm.sh/resource-policy: keep) and nothing else added', async () => {
  assertSameObjects(kept(await template(CRDS_CHART)), await render(CRDS_DIR));
});

test('skein-crds with gatewayAPI.installCRDs=true adds exactly crds/gateway-api (the Gateway API standard channel), also kept on uninstall', async () => {
  assertSameObjects(kept(await template(CRDS_CHART, '--set', `${GATEWAY_CRDS_VALUE}=true`)), [...await render(CRDS_DIR), ...await render(GATEWAY_CRDS_DIR)]);
});

test('values move what they name: images, trust domain (env and token audience), cluster networks, inbound policy, proxy defaults, replicas', async () => {
  const objs = byKey(await template(CONTROL_PLANE,
    '--set', 'image.registry=registry.example.com/mesh', '--set', 'image.tag=v9', '--set', 'trustDomain=example.org',
    '--set', 'clusterNetworks={10.0.0.0/8,100.64.0.0/10}', '--set', 'defaultInboundPolicy=deny',
    '--set', 'proxyDefaults.proxy-log-level=debug', '--set', 'replicas.webhook=2'));
  type Env = { name: string; value?: string };
  type Dep = KubeObject & { spec: { replicas: number; template: { spec: { containers: { name: string; image: string; env?: Env[] }[]; volumes?: { projected?: { sources: { serviceAccountToken?: { audience: string } }[] } }[] } } } };
  const dep = (name: string) => objs.get(`Deployment skein-system/${name}`) as Dep;
  const env = (name: string) => Object.fromEntries((dep(name).spec.template.spec.containers[0]?.env ?? []).map((e) => [e.name, e.value]));
  for (const d of ['skein-webhook', 'skein-identity', 'skein-controller']) {
    assert.equal(dep(d).spec.template.spec.containers[0]?.image, 'registry.example.com/mesh/controller:v9', d);
    assert.equal(env(d).SKEIN_TRUST_DOMAIN, 'example.org', `${d} gets the trust domain`);
  }
  assert.equal(env('skein-webhook').SKEIN_PROXY_IMAGE, 'registry.example.com/mesh/proxy:v9');
  assert.deepEqual(JSON.parse(env('skein-webhook').SKEIN_PROXY_DEFAULTS ?? '{}'), { 'proxy-log-level': 'debug' });
  assert.equal(env('skein-controller').SKEIN_CLUSTER_NETWORKS, '10.0.0.0/8,100.64.0.0/10');
  assert.equal(env('skein-controller').SKEIN_DEFAULT_INBOUND_POLICY, 'deny');
  const audiences = (dep('skein-controller').spec.template.spec.volumes ?? []).flatMap((v) => v.projected?.sources ?? []).map((s) => s.serviceAccountToken?.audience).filter(Boolean);
  assert.deepEqual(audiences, ['identity.skein-system.example.org']);
  assert.deepEqual([dep('skein-webhook').spec.replicas, dep('skein-identity').spec.replicas], [2, 1]);
});

test('no caBundle, PEM block or Secret data in any rendering: the webhook applies its CA at run time (no GitOps drift)', async () => {
  for (const text of [await helm(['template', 'skein', CONTROL_PLANE, ...KUBE_VERSION]), await helm(['template', 'skein', CONTROL_PLANE, ...KUBE_VERSION, '-f', join(CONTROL_PLANE, 'values-ha.yaml')]), await helm(['template', 'skein', CRDS_CHART, ...KUBE_VERSION])]) {
    assert.doesNotMatch(text, /caBundle:\s*\S/);
    assert.doesNotMatch(text, /-----BEGIN /);
    assert.ok(!parseObjects(text).some((o) => o.kind === 'Secret' && ('data' in o || 'stringData' in o)));
  }
});

test('bad values are refused by the chart\'s schema, naming the value, before anything renders', async () => {
  const refused = async (set: string, pattern: RegExp) => {
    await assert.rejects(helm(['template', 'skein', CONTROL_PLANE, ...KUBE_VERSION, '--set', set]), pattern, set);
  };
  await refused('trustDomain=Not_A_Domain', /trustDomain/);
  await refused('webhookFailurePolicy=Sometimes', /webhookFailurePolicy/);
  await refused('proxyDefaults.proxy-log-levl=debug', /proxy-log-levl|proxyDefaults/);
  await refused('clusterNetworks={10.0.0.0}', /clusterNetworks/);
  await refused('replicas.webhok=2', /webhok|replicas/);
});

test('helm lint passes for both charts', async () => {
  for (const chart of [CRDS_CHART, CONTROL_PLANE]) await helm(['lint', '--strict', chart]);
});

test('an ha overlay difference the chart has no value for stops the generator, naming the object', () => {
  const deployment = (extra: Record<string, unknown> = {}): KubeObject => ({
    apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'skein-webhook', namespace: 'skein-system', labels: { 'skein.dev/control-plane-component': 'webhook' } },
    spec: { replicas: 1, template: { spec: { containers: [{ name: 'webhook', image: 'x', ...extra }] } } },
  });
  assert.deepEqual(haValuesOf([deployment()], [{ ...deployment(), spec: { replicas: 3, template: { spec: { containers: [{ name: 'webhook', image: 'x' }] } } } }]).replicas, { webhook: 3 });
  assert.throws(() => haValuesOf([deployment()], [deployment({ args: ['--ha'] })]), /the ha overlay changes Deployment\/skein-system\/skein-webhook beyond replicas/);
  assert.throws(() => haValuesOf([deployment()], [deployment(), { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'ha-only', namespace: 'skein-system' } }]), /adds ConfigMap\/skein-system\/ha-only/);
});
