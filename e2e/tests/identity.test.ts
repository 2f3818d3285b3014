// Certify against the real API server's TokenReview: tokens from the real
// TokenRequest API, the identity service on loopback with real TLS.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Agent, request } from 'undici';
import { X509Certificate } from 'node:crypto';
import { CoreV1Api, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { kubeConfig, testNamespace, kubectl, eventually } from '../support/kube.ts';
import { IdentityClient } from '../../shared/identity-client.ts';
import { bootstrapIdentity, renderIdentityObjects } from '../../operator/identity/bootstrap.ts';
import { createCa, createIntermediateCa, issueLeaf, privateKeyPem } from '../../shared/tls.ts';
import { createCsr } from '../../shared/csr.ts';
import { identityName } from '../../api/identity-names.ts';
import { createLogger } from '../../shared/log.ts';
import { buildIdentityServer, identityMetrics, tokenReviewer } from '../../operator/identity/server.ts';

const kc = kubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const AUD = 'identity.skein-system.cluster.local';
const metrics = identityMetrics();
let url = '';
let dispatcher: Agent;
let close: () => Promise<void>;

before(async () => {
  const anchor = await createCa({ commonName: 'e2e-anchor', validForMs: 86_400_000 });
  const issuer = await createIntermediateCa(anchor, { commonName: 'e2e-issuer', validForMs: 86_400_000 });
  const serving = await issueLeaf(issuer, { subject: 'CN=skein-identity', ipAddresses: ['127.0.0.1'], usages: ['server'], validForMs: 86_400_000 });
  const app = buildIdentityServer({
    tls: { cert: serving.cert.toString('pem') + '\n' + issuer.cert.toString('pem'), key: await privateKeyPem(serving.keys!.privateKey) },
    deps: { review: tokenReviewer(kc, AUD), issuer: () => issuer, trustDomain: 'cluster.local', audience: AUD, lifetimeMs: 86_400_000, clockSkewMs: 60_000 },
    metrics, logger: createLogger('identity-e2e', 'silent'),
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  url = `https://127.0.0.1:${(app.server.address() as { port: number }).port}/certify`;
  // The client verifies the service against the trust anchor, as a proxy will.
  dispatcher = new Agent({ connect: { ca: anchor.cert.toString('pem') } });
  close = async () => { await dispatcher.close(); await app.close(); };
});
after(async () => { await close(); });

async function token(ns: string, sa: string, audiences: string[]): Promise<string> {
  const r = await core.createNamespacedServiceAccountToken({ name: sa, namespace: ns, body: { spec: { audiences, expirationSeconds: 600 } } });
  return r.status?.token ?? '';
}

async function call(bearer: string, csr: string): Promise<{ status: number; body: { error?: string; message?: string; identity?: string; certificate?: string } }> {
  const res = await request(url, { method: 'POST', dispatcher, headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' }, body: JSON.stringify({ csr }) });
  return { status: res.statusCode, body: await res.body.json() as never };
}

test('a pod\'s ServiceAccount token gets a certificate for exactly its identity; every other route is refused with a reason', async (t) => {
  const ns = await testNamespace(t);
  for (const sa of ['web', 'admin']) await core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: sa } } });
  const web = identityName('web', ns, 'cluster.local');
  const webToken = await token(ns, 'web', [AUD]);

  const ok = await call(webToken, createCsr(web).csrPem);
  assert.equal(ok.status, 200, JSON.stringify(ok.body));
  assert.equal(ok.body.identity, web);
  assert.match(new X509Certificate(ok.body.certificate ?? '').subjectAltName ?? '', new RegExp(`URI:spiffe://cluster.local/ns/${ns}/sa/web`));

  const asAdmin = await call(webToken, (createCsr(identityName('admin', ns, 'cluster.local'))).csrPem);
  assert.deepEqual([asAdmin.status, asAdmin.body.error], [403, 'name_mismatch']);

  const apiAudience = await call(await token(ns, 'web', []), createCsr(web).csrPem);
  assert.deepEqual([apiAudience.status, apiAudience.body.error], [401, 'token_invalid'], 'a token for the API server\'s own audience is no identity proof');

  const garbage = await call('not-a-token', createCsr(web).csrPem);
  assert.deepEqual([garbage.status, garbage.body.error], [401, 'token_invalid']);

  const other = await testNamespace(t);
  await core.createNamespacedServiceAccount({ namespace: other, body: { metadata: { name: 'web' } } });
  const replay = await call(await token(other, 'web', [AUD]), createCsr(web).csrPem);
  assert.deepEqual([replay.status, replay.body.error], [403, 'name_mismatch'], 'a token from another namespace cannot claim this one\'s identity');

  const malformed = await call(webToken, 'MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8A');
  assert.deepEqual([malformed.status, malformed.body.error], [400, 'csr_malformed']);

  const extraSans = await call(webToken, await csrWith(web, [{ type: 'dns', value: web }, { type: 'dns', value: 'kubernetes.default.svc' }], 'P-256'));
  assert.deepEqual([extraSans.status, extraSans.body.error], [403, 'extra_names']);
  const p384 = await call(webToken, await csrWith(web, [{ type: 'dns', value: web }], 'P-384'));
  assert.deepEqual([p384.status, p384.body.error], [400, 'key_not_p256']);

  // A token cannot be made to expire quickly (TokenRequest's minimum is 600 s); the API server
  // refuses an expired one exactly as it refuses a token whose bound object is gone, which is
  // what this checks for real. Expiry's own message is covered by certify.test.ts with a fake review.
  const bound = await core.createNamespacedSecret({ namespace: ns, body: { metadata: { name: 'bound' } } });
  const boundToken = (await core.createNamespacedServiceAccountToken({ name: 'web', namespace: ns, body: { spec: { audiences: [AUD], expirationSeconds: 600, boundObjectRef: { apiVersion: 'v1', kind: 'Secret', name: 'bound', uid: bound.metadata?.uid ?? '' } } } })).status?.token ?? '';
  const whileBound = await call(boundToken, createCsr(web).csrPem);
  assert.equal(whileBound.status, 200, 'a bound token works while its object exists');
  await core.deleteNamespacedSecret({ namespace: ns, name: 'bound' });
  // The API server reads the bound object from its cache, so it may take a moment to notice.
  let issuedMeanwhile = 0;
  const afterDelete = await eventually('the bound token to be refused', async () => {
    const r = await call(boundToken, createCsr(web).csrPem);
    if (r.status === 200) issuedMeanwhile++;
    return r.status === 200 ? undefined : r;
  }, 30_000);
  assert.deepEqual([afterDelete.status, afterDelete.body.error], [401, 'token_invalid'], 'a token whose bound object is gone proves nothing');

  const text = await metrics.registry.metrics();
  assert.match(text, new RegExp(`skein_identity_certify_total\\{result="issued"\\} ${2 + issuedMeanwhile}\n`));
  assert.match(text, /skein_identity_refused_total\{reason="name_mismatch"\} 2/);
  assert.match(text, /skein_identity_refused_total\{reason="token_invalid"\} 3/);
  assert.match(text, /skein_identity_refused_total\{reason="extra_names"\} 1/);
  assert.match(text, /skein_identity_refused_total\{reason="key_not_p256"\} 1/);
  assert.match(text, /skein_identity_certify_duration_seconds_count\{result="refused"\} 8/);
});

test('no route to another ServiceAccount\'s identity: audience swap and CSR tricks are refused with a reason', async (t) => {
  const ns = await testNamespace(t);
  await core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: 'web' } } });
  const web = identityName('web', ns, 'cluster.local');
  const admin = identityName('admin', ns, 'cluster.local');
  const webToken = await token(ns, 'web', [AUD]);
  const refusedBefore = await refusedCount();
  const cases: [string, Promise<Awaited<ReturnType<typeof call>>>, number, string][] = [
    // A token the API server minted for another service (e.g. Vault's audience) proves nothing here.
    ['audience swap (vault)', call(await token(ns, 'web', ['vault']), createCsr(web).csrPem), 401, 'token_invalid'],
    ['CN of another ServiceAccount', call(webToken, await csrWith(admin, [{ type: 'dns', value: web }], 'P-256')), 403, 'name_mismatch'],
    ['URI SAN of another ServiceAccount', call(webToken, await csrWith(web, [{ type: 'dns', value: web }, { type: 'url', value: `spiffe://cluster.local/ns/${ns}/sa/admin` }], 'P-256')), 403, 'extra_names'],
    ['wildcard DNS SAN', call(webToken, await csrWith(web, [{ type: 'dns', value: `*.${ns}.serviceaccount.identity.skein-system.cluster.local` }], 'P-256')), 403, 'name_mismatch'],
    ['two URI SANs', call(webToken, await csrWith(web, [{ type: 'url', value: `spiffe://cluster.local/ns/${ns}/sa/web` }, { type: 'url', value: `spiffe://cluster.local/ns/${ns}/sa/admin` }], 'P-256')), 403, 'extra_names'],
    ['DNS SAN spelled with a trailing dot', call(webToken, await csrWith(web, [{ type: 'dns', value: `${web}.` }], 'P-256')), 403, 'name_mismatch'],
  ];
  for (const [what, pending, status, code] of cases) {
    const r = await pending;
    assert.deepEqual([r.status, r.body.error], [status, code], `${what}: ${JSON.stringify(r.body)}`);
    assert.ok((r.body.message ?? '').length > 10, `${what}: the refusal says why`);
    assert.equal(r.body.certificate, undefined, `${what}: no certificate`);
  }
  assert.equal(await refusedCount() - refusedBefore, cases.length, 'each refusal is counted');
});

async function refusedCount(): Promise<number> {
  return (await metrics.refused.get()).values.reduce((n, v) => n + v.value, 0);
}

/** A CSR the client library would never make: several names, or another curve. */
async function csrWith(cn: string, names: { type: 'dns' | 'url'; value: string }[], curve: 'P-256' | 'P-384'): Promise<string> {
  const { webcrypto } = await import('node:crypto');
  const { x509 } = await import('../../shared/x509.ts');
  const keys = await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: curve }, true, ['sign', 'verify']);
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: `CN=${cn}`, keys, signingAlgorithm: { name: 'ECDSA', hash: curve === 'P-256' ? 'SHA-256' : 'SHA-384' },
    extensions: [new x509.SubjectAlternativeNameExtension(names)],
  });
  return csr.toString('pem');
}

test('issuer rotation under load: the Secret changes, certify calls keep succeeding, new leaves chain to the new issuer', async (t) => {
  const { IssuerSource } = await import('../../operator/identity/issuer.ts');
  const { toPemPair } = await import('../../shared/tls.ts');
  const ns = await testNamespace(t);
  const anchor = await createCa({ commonName: 'rotation-anchor', validForMs: 86_400_000 });
  const issuerA = await createIntermediateCa(anchor, { commonName: 'issuer-a', validForMs: 86_400_000 });
  const issuerB = await createIntermediateCa(anchor, { commonName: 'issuer-b', validForMs: 86_400_000 });
  const secretData = async (i: typeof issuerA) => {
    const p = await toPemPair(i);
    return { 'tls.crt': Buffer.from(p.certPem).toString('base64'), 'tls.key': Buffer.from(p.keyPem).toString('base64') };
  };
  await core.createNamespacedSecret({ namespace: ns, body: { metadata: { name: 'skein-issuer' }, type: 'kubernetes.io/tls', data: await secretData(issuerA) } });
  const loaded: string[] = [];
  const source = new IssuerSource(kc, ns, 'skein-issuer', () => anchor.cert.toString('pem'), { onLoaded: (i) => loaded.push(i.cert.subject), onRejected: () => undefined });
  await source.start();
  t.after(() => source.stop());
  assert.deepEqual(loaded, ['CN=issuer-a']);

  const serving = await issueLeaf(anchor, { subject: 'CN=skein-identity', ipAddresses: ['127.0.0.1'], usages: ['server'], validForMs: 86_400_000 });
  const app = buildIdentityServer({
    tls: { cert: serving.cert.toString('pem'), key: await privateKeyPem(serving.keys!.privateKey) },
    deps: { review: tokenReviewer(kc, AUD), issuer: () => source.current(), trustDomain: 'cluster.local', audience: AUD, lifetimeMs: 86_400_000, clockSkewMs: 60_000 },
    metrics: identityMetrics(), logger: createLogger('identity-rotation', 'silent'),
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  t.after(async () => { await app.close(); });
  const target = `https://127.0.0.1:${(app.server.address() as { port: number }).port}/certify`;
  const agent = new Agent({ connect: { ca: anchor.cert.toString('pem') } });
  t.after(async () => { await agent.close(); });
  const webToken = await token(ns, 'default', [AUD]);
  const identity = identityName('default', ns, 'cluster.local');
  const csr = JSON.stringify({ csr: createCsr(identity).csrPem });

  let rotated = false;
  const results = { ok: 0, failed: 0, afterRotation: new Set<string>() };
  // Each worker keeps going until it has made ten calls after the rotation (bounded at 500).
  const worker = async () => {
    for (let i = 0, after = 0; i < 500 && after < 10; i++) {
      const wasRotated = rotated;
      if (wasRotated) after++;
      const res = await request(target, { method: 'POST', dispatcher: agent, body: csr, headers: { authorization: `Bearer ${webToken}`, 'content-type': 'application/json' } });
      const body = await res.body.json() as { certificate?: string };
      if (res.statusCode !== 200 || !body.certificate) { results.failed++; continue; }
      results.ok++;
      if (wasRotated) results.afterRotation.add(new X509Certificate(body.certificate).issuer);
    }
  };
  const load = Promise.all([worker(), worker(), worker(), worker()]);
  await new Promise((r) => setTimeout(r, 150));
  await core.replaceNamespacedSecret({ namespace: ns, name: 'skein-issuer', body: { metadata: { name: 'skein-issuer' }, type: 'kubernetes.io/tls', data: await secretData(issuerB) } });
  const deadline = Date.now() + 10_000;
  while (!loaded.includes('CN=issuer-b') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  rotated = true;
  await load;
  assert.deepEqual(loaded, ['CN=issuer-a', 'CN=issuer-b'], 'the new issuer was loaded from the changed Secret');
  assert.equal(results.failed, 0, 'no certify call failed during the rotation');
  assert.ok(results.ok >= 40, `calls were made throughout (${results.ok})`);
  assert.deepEqual([...results.afterRotation], ['CN=issuer-b'], 'leaves issued after the rotation chain to the new issuer');
});

test('skein-identity installed from manifests/base certifies a workload through its Service, as a proxy would', async (t) => {
  const BASE = resolve(import.meta.dirname, '../../manifests/base');
  await kubectl('apply', '--server-side', '-f', resolve(import.meta.dirname, '../../crds/meshidentities.skein.dev.yaml'));
  await kubectl('apply', '-k', BASE);
  t.after(async () => {
    await kubectl('delete', '-k', BASE, '--wait=true', '--ignore-not-found');
    await kubectl('delete', 'meshidentity', 'default', '--ignore-not-found');
  });
  const boot = await bootstrapIdentity('cluster.local');
  const dir = mkdtempSync(join(tmpdir(), 'skein-identity-e2e-'));
  writeFileSync(join(dir, 'identity.yaml'), renderIdentityObjects(boot));
  await kubectl('apply', '-f', join(dir, 'identity.yaml'));
  await kubectl('-n', 'skein-system', 'rollout', 'status', 'deployment/skein-identity', '--timeout=120s');

  const ns = await testNamespace(t);
  await core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: 'books' } } });
  writeFileSync(join(dir, 'token'), await token(ns, 'books', [AUD]));
  const svc = await core.readNamespacedService({ namespace: 'skein-system', name: 'skein-identity' });
  const identity = identityName('books', ns, 'cluster.local');
  const client = new IdentityClient({
    url: `https://${svc.spec?.clusterIP ?? ''}:8080/certify`,
    serverName: identityName('skein-identity', 'skein-system', 'cluster.local'),
    identity, tokenFile: join(dir, 'token'), trustRoots: () => Promise.resolve(boot.anchorPem),
  });
  t.after(() => client.stop());
  await client.start();
  assert.equal(client.ready(), true);
  const leaf = new X509Certificate(client.current?.certPem ?? '');
  assert.match(leaf.subjectAltName ?? '', new RegExp(`DNS:${identity.replace(/\./g, '\\.')}`));
  assert.ok(leaf.checkIssued(new X509Certificate(client.current?.chainPem[0] ?? '')), 'the leaf is issued by the installed issuer');

  // The installed service made MeshIdentity default, keeps its status, and publishes the anchors.
  const issuerFingerprint = new X509Certificate(boot.issuerCertPem).fingerprint256;
  await eventually('MeshIdentity default: IssuerValid=True with the bootstrap issuer', async () => {
    const out = await kubectl('get', 'meshidentity', 'default', '-o', 'jsonpath={.status.issuer.fingerprintSHA256} {.status.conditions[?(@.type=="IssuerValid")].status} {.status.certificatesIssued}');
    const [fp, valid, issued] = out.split(' ');
    return fp === issuerFingerprint && valid === 'True' && Number(issued) >= 1 ? out : undefined;
  }, 60_000);
  await core.patchNamespace({ name: ns, body: { metadata: { annotations: { 'skein.dev/inject': 'enabled' } } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
  const roots = await eventually(`ConfigMap skein-trust-roots in ${ns}`, async () => (await core.readNamespacedConfigMap({ namespace: ns, name: 'skein-trust-roots' })).data?.['ca-bundle.crt'], 60_000);
  assert.equal(roots, boot.anchorPem);
});
