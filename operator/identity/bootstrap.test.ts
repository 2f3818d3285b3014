import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseAllDocuments } from 'yaml';
import { bootstrapIdentity, renderIdentityObjects } from './bootstrap.ts';
import { loadIssuer } from './issuer.ts';

test('a bootstrapped issuer is accepted by the identity service against the anchors it ships with', async () => {
  const b = await bootstrapIdentity('mesh.example.com');
  const issuer = await loadIssuer(b.issuerCertPem, b.issuerKeyPem, b.anchorPem);
  assert.match(issuer.cert.subject, /identity\.skein-system\.mesh\.example\.com/);
  const docs = parseAllDocuments(renderIdentityObjects(b)).map((d) => d.toJS() as { kind: string; type?: string; metadata: { name: string; namespace: string } });
  assert.deepEqual(docs.map((d) => [d.kind, d.metadata.namespace, d.metadata.name]), [['Secret', 'skein-system', 'skein-issuer'], ['ConfigMap', 'skein-system', 'skein-trust-anchors']]);
  assert.equal(docs[0]?.type, 'kubernetes.io/tls');
});

test('two bootstraps never share a key', async () => {
  const [a, b] = await Promise.all([bootstrapIdentity('cluster.local'), bootstrapIdentity('cluster.local')]);
  assert.notEqual(a.issuerKeyPem, b.issuerKeyPem);
  assert.notEqual(a.anchorPem, b.anchorPem);
});
