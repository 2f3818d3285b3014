import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { createCa, createIntermediateCa, toPemPair } from '../shared/tls.ts';
import { composeInstall, identityFromFiles, identityObjects, isDnsName, readPemDir, withSecretData, withTrustDomain } from './install.ts';
import { composeUninstall } from './uninstall.ts';
import { CliError } from './errors.ts';
import { parseObjects, valueAt } from './manifests.ts';

const CONTROL_PLANE = `apiVersion: v1
kind: Namespace
metadata: {name: skein-system}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: skein-identity, namespace: skein-system, labels: {skein.dev/control-plane-component: identity}}
spec:
  template:
    spec:
      containers:
      - name: identity
        env: [{name: SKEIN_TRUST_DOMAIN, value: cluster.local}]
      - name: other
---
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata: {name: skein-webhook}
`;
const CRDS = 'apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: x.skein.dev}\n';

test('the install stream: CRDs first, then the control plane with the trust domain, then identity', () => {
  const docs = parseAllDocuments(composeInstall(CRDS, CONTROL_PLANE, 'apiVersion: v1\nkind: Secret\nmetadata: {name: skein-issuer}\n', 'mesh.example.com'))
    .map((d) => d.toJS() as unknown);
  assert.deepEqual(docs.map((d) => valueAt(d, 'kind')), ['CustomResourceDefinition', 'Namespace', 'Deployment', 'MutatingWebhookConfiguration', 'Secret']);
  const containers = valueAt(docs[2], 'spec', 'template', 'spec', 'containers') as { env: unknown[] }[];
  assert.deepEqual(containers.map((c) => c.env), [[{ name: 'SKEIN_TRUST_DOMAIN', value: 'mesh.example.com' }], [{ name: 'SKEIN_TRUST_DOMAIN', value: 'mesh.example.com' }]]);
  assert.deepEqual(withTrustDomain(parseObjects(CONTROL_PLANE), 'x')[0], parseObjects(CONTROL_PLANE)[0], 'only control-plane Deployments change');
});

test('trust domains are DNS names', () => {
  assert.equal(isDnsName('cluster.local'), true);
  assert.equal(isDnsName('Mesh_1'), false);
});

test('uninstall lists webhook configurations first, CRDs only when asked, names only', () => {
  const kinds = (s: string) => parseObjects(s).map((o) => o.kind);
  assert.deepEqual(kinds(composeUninstall(CONTROL_PLANE, undefined)), ['MutatingWebhookConfiguration', 'Namespace', 'Deployment']);
  assert.deepEqual(kinds(composeUninstall(CONTROL_PLANE, CRDS)), ['MutatingWebhookConfiguration', 'Namespace', 'Deployment', 'CustomResourceDefinition']);
  assert.deepEqual(parseObjects(composeUninstall(CONTROL_PLANE, undefined))[2], { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'skein-identity', namespace: 'skein-system' } });
});

test('a brought issuer is checked before anything is printed; a generated one is printed as Secret and ConfigMap', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'skein-issuer-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const anchor = await createCa({ commonName: 'anchor', validForMs: 86_400_000 * 30, pathLength: 1 });
  const other = await createCa({ commonName: 'other', validForMs: 86_400_000 * 30, pathLength: 1 });
  const issuer = await toPemPair(await createIntermediateCa(anchor, { commonName: 'issuer', validForMs: 86_400_000 * 10 }));
  writeFileSync(join(dir, 'tls.crt'), issuer.certPem);
  writeFileSync(join(dir, 'tls.key'), issuer.keyPem);
  await assert.rejects(identityFromFiles(await readPemDir(dir), dir), (e: unknown) => e instanceof CliError && /ca\.crt is missing/.test(e.message));
  writeFileSync(join(dir, 'ca.crt'), other.cert.toString('pem'));
  await assert.rejects(identityObjects({ overlay: 'base', trustDomain: 'cluster.local', issuerDir: dir }),
    (e: unknown) => e instanceof CliError && e.code === 'invalid_issuer' && /not signed by any current trust anchor/.test(e.message));
  writeFileSync(join(dir, 'ca.crt'), anchor.cert.toString('pem'));
  const objs = parseObjects(await identityObjects({ overlay: 'base', trustDomain: 'cluster.local', issuerDir: dir }));
  assert.deepEqual(objs.map((o) => `${o.kind}/${o.metadata.name}`), ['Secret/skein-issuer', 'ConfigMap/skein-trust-anchors']);
  const generated = parseObjects(await identityObjects({ overlay: 'cert-manager', trustDomain: 'cluster.local', issuerDir: undefined }));
  assert.deepEqual(generated.map((o) => `${o.kind}/${o.metadata.name}`), ['Secret/skein-trust-anchor', 'ConfigMap/skein-trust-anchors']);
  assert.equal(valueAt(generated[0], 'stringData', 'tls.crt'), valueAt(generated[1], 'data', 'ca-bundle.crt'));
});

test('the install stream carries Secrets as data, so a second server-side apply manager does not conflict on stringData', () => {
  const identity = 'apiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: skein-system}\nstringData: {tls.crt: "PEM\\n"}\n';
  const [secret] = parseObjects(composeInstall('', '', identity, 'cluster.local'));
  assert.equal(secret?.stringData, undefined);
  assert.deepEqual(secret?.data, { 'tls.crt': Buffer.from('PEM\n').toString('base64') });
  const [other] = withSecretData([{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' }, stringData: { a: 'b' } }]);
  assert.deepEqual(other?.stringData, { a: 'b' });
});

test('--registry and --tag move the controller image and the proxy image the webhook injects, nothing else', () => {
  const webhook = `apiVersion: apps/v1
kind: Deployment
metadata: {name: skein-webhook, namespace: skein-system, labels: {skein.dev/control-plane-component: webhook}}
spec:
  template:
    spec:
      containers:
      - name: webhook
        image: ghcr.io/skein-dev/controller:v0.1.0
        env: [{name: SKEIN_PROXY_IMAGE, value: ghcr.io/skein-dev/proxy:v0.1.0}]
      - name: sidecar-of-someone-else
        image: docker.io/library/busybox:1.36
`;
  const [deployment] = parseObjects(composeInstall('', webhook, '', 'cluster.local', { registry: 'registry.example.com/mesh', tag: 'v9' }));
  const containers = valueAt(deployment, 'spec', 'template', 'spec', 'containers') as { image: string; env?: { name: string; value: string }[] }[];
  assert.deepEqual(containers.map((c) => c.image), ['registry.example.com/mesh/controller:v9', 'docker.io/library/busybox:1.36']);
  assert.deepEqual(containers[0]?.env?.find((e) => e.name === 'SKEIN_PROXY_IMAGE')?.value, 'registry.example.com/mesh/proxy:v9');
  const [unchanged] = parseObjects(composeInstall('', webhook, '', 'cluster.local'));
  assert.equal((valueAt(unchanged, 'spec', 'template', 'spec', 'containers', 0, 'image')), 'ghcr.io/skein-dev/controller:v0.1.0');
});
