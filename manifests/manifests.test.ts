// Every kustomization renders deterministically and carries no secret
// material: what Argo CD and Flux apply is the same in every cluster and
// every run, and nothing in Git needs hiding.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { parse, parseAllDocuments } from 'yaml';
import type { KubernetesObject, V1Deployment, V1PodDisruptionBudget } from '@kubernetes/client-node';
import { imageRef, repositoryOf } from '../shared/images.ts';
import { withClusterNetworks, withTrustDomain } from '../cli/install.ts';
import { parseObjects, type KubeObject } from '../cli/manifests.ts';
import { identityAudience } from '../api/mesh-names.ts';
import { DEFAULT_CLUSTER_NETWORKS } from '../operator/policy/inbound.ts';

const run = promisify(execFile);
const REPO = join(import.meta.dirname, '..');

/** The cluster's kubectl, found as the cluster tests find it: SKEIN_K8S_BIN, else the (cached) build. */
async function kubectl(): Promise<string> {
  const bin = process.env.SKEIN_K8S_BIN ?? (await run(join(REPO, 'e2e/cluster/build-binaries.sh'), { maxBuffer: 64 * 1024 * 1024 })).stdout.trim().split('\n').pop() ?? '';
  return join(bin, 'kubectl');
}

const KUSTOMIZATIONS = [
  'crds',
  'manifests/base',
  ...readdirSync(join(REPO, 'manifests/overlays')).map((o) => `manifests/overlays/${o}`),
];

async function render(dir: string): Promise<string> {
  return (await run(await kubectl(), ['kustomize', join(REPO, dir)], { maxBuffer: 64 * 1024 * 1024 })).stdout;
}

for (const dir of KUSTOMIZATIONS) {
  test(`${dir}: renders byte-identical twice, with no caBundle, PEM block or Secret data`, async () => {
    const [first, second] = [await render(dir), await render(dir)];
    assert.ok(first.length > 0);
    assert.equal(first, second);
    assert.doesNotMatch(first, /caBundle:\s*\S/, 'caBundle is applied by skein-webhook at run time');
    assert.doesNotMatch(first, /-----BEGIN /, 'no PEM block: keys and certificates are made per install');
    for (const doc of parseAllDocuments(first).map((d) => d.toJS() as { kind?: string; data?: unknown; stringData?: unknown; metadata?: { name?: string } })) {
      if (doc.kind === 'Secret') assert.ok(doc.data === undefined && doc.stringData === undefined, `Secret ${doc.metadata?.name ?? ''} carries data`);
    }
  });
}

test('crds/Kustomization lists every CRD file, so `kubectl apply -k crds` and `-f crds/` apply the same', () => {
  const listed = (parse(readFileSync(join(REPO, 'crds/Kustomization'), 'utf8')) as { resources: string[] }).resources.sort();
  assert.deepEqual(listed, readdirSync(join(REPO, 'crds')).filter((f) => f.endsWith('.yaml')).sort());
});

test('the ha overlay runs every control-plane Deployment three times, spread over nodes, behind a PodDisruptionBudget, failing closed', async () => {
  const objs = parseAllDocuments(await render('manifests/overlays/ha')).map((d) => d.toJS() as KubernetesObject & { spec?: unknown; webhooks?: { failurePolicy?: string }[] });
  const deployments = objs.filter((o): o is V1Deployment & KubernetesObject => o.kind === 'Deployment');
  assert.ok(deployments.length >= 2);
  for (const d of deployments) {
    const name = d.metadata?.name ?? '';
    assert.equal(d.spec?.replicas, 3, name);
    assert.equal(d.spec?.template.spec?.affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.[0]?.topologyKey, 'kubernetes.io/hostname');
    assert.ok(objs.some((o) => o.kind === 'PodDisruptionBudget' && (o as V1PodDisruptionBudget).spec?.selector?.matchLabels?.['app.kubernetes.io/name'] === name), `PDB for ${name}`);
  }
  for (const kind of ['MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration']) {
    assert.deepEqual(objs.filter((o) => o.kind === kind).flatMap((o) => (o.webhooks ?? []).map((w) => w.failurePolicy)), ['Fail']);
  }
});

test('the cert-manager overlay: skein-issuer and the webhook certificate are cert-manager Certificates the components read', async () => {
  const objs = parseAllDocuments(await render('manifests/overlays/cert-manager')).map((d) => d.toJS() as KubernetesObject);
  type Certificate = { spec: { secretName: string; isCA?: boolean; privateKey?: { algorithm?: string; encoding?: string } } };
  const certs = objs.filter((o) => o.kind === 'Certificate') as unknown as Certificate[];
  const issuer = certs.find((c) => c.spec.secretName === 'skein-issuer');
  assert.deepEqual([issuer?.spec.isCA, issuer?.spec.privateKey?.algorithm, issuer?.spec.privateKey?.encoding], [true, 'ECDSA', 'PKCS8']);
  const webhook = objs.find((o) => o.kind === 'Deployment' && o.metadata?.name === 'skein-webhook') as V1Deployment | undefined;
  const pod = webhook?.spec?.template.spec;
  const container = pod?.containers[0];
  const dir = container?.env?.find((e) => e.name === 'SKEIN_WEBHOOK_TLS_DIR')?.value;
  const mount = container?.volumeMounts?.find((m) => m.mountPath === dir);
  const volume = pod?.volumes?.find((v) => v.name === mount?.name);
  assert.ok(volume?.secret?.secretName && certs.some((c) => c.spec.secretName === volume.secret?.secretName), 'the mounted Secret is a Certificate\'s');
});

test('a kustomize `images:` entry moves every control-plane container to another registry and tag', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'skein-kustomize-'));
  try {
    await writeFile(join(dir, 'kustomization.yaml'), `resources: [${relative(dir, join(REPO, 'manifests/base'))}]\nimages:\n  - {name: ${repositoryOf(imageRef('controller'))}, newName: registry.example.com/mesh/controller, newTag: v9}\n`);
    const rendered = (await run(await kubectl(), ['kustomize', '--load-restrictor=LoadRestrictionsNone', dir], { maxBuffer: 64 * 1024 * 1024 })).stdout;
    const images = parseAllDocuments(rendered).map((d) => d.toJS() as V1Deployment).filter((o) => o.kind === 'Deployment')
      .flatMap((d) => d.spec?.template.spec?.containers.map((c) => c.image) ?? []);
    assert.equal(images.length, 3);
    assert.deepEqual(new Set(images), new Set(['registry.example.com/mesh/controller:v9']));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('the trust domain reaches every place the base spells it: SKEIN_TRUST_DOMAIN and every identity token audience', async () => {
  const shipped = parseObjects(await render('manifests/base'));
  const audiences = (objects: KubeObject[]) => objects.flatMap((o) => JSON.stringify(o).match(/"audience":"[^"]*"/g) ?? []);
  assert.deepEqual(new Set(audiences(shipped)), new Set([`"audience":"${identityAudience('cluster.local')}"`]), 'the base as shipped: the default trust domain');
  const moved = withTrustDomain(shipped, 'example.org');
  assert.deepEqual(new Set(audiences(moved)), new Set([`"audience":"${identityAudience('example.org')}"`]));
  const trustDomains = moved.filter((o) => o.kind === 'Deployment').flatMap((o) => (o as unknown as V1Deployment).spec?.template.spec?.containers ?? [])
    .map((c) => c.env?.find((e) => e.name === 'SKEIN_TRUST_DOMAIN')?.value);
  assert.deepEqual(trustDomains, ['example.org', 'example.org', 'example.org']);
  const issuer = withTrustDomain(parseObjects(await render('manifests/overlays/cert-manager')), 'example.org')
    .find((o) => o.kind === 'Certificate' && o.metadata.name === 'skein-issuer') as KubeObject & { spec?: { commonName?: string } };
  assert.equal(issuer.spec?.commonName, 'identity.skein-system.example.org', 'the issuer cert-manager makes is named for the trust domain too');
});

test('cluster networks: the base defaults to the ranges real clusters use (as the code does), not the test bed\'s; --cluster-networks replaces them', async () => {
  const shipped = parseObjects(await render('manifests/base'));
  const networks = (objects: KubeObject[]) => objects.flatMap((o) => (o.kind === 'Deployment' ? (o as unknown as V1Deployment).spec?.template.spec?.containers ?? [] : []))
    .flatMap((c) => c.env?.filter((e) => e.name === 'SKEIN_CLUSTER_NETWORKS').map((e) => e.value) ?? []);
  assert.deepEqual(networks(shipped), [DEFAULT_CLUSTER_NETWORKS.join(',')]);
  assert.ok(!DEFAULT_CLUSTER_NETWORKS.includes('198.18.0.0/15'));
  assert.deepEqual(networks(withClusterNetworks(shipped, ['198.18.0.0/15'])), ['198.18.0.0/15']);
});
