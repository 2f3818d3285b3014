// The MeshIdentity status, trust-roots publishing and anchor rotation with an
// overlap window, against the real API server: the identity controller runs
// in this process on a MeshIdentity of its own (issuer and anchors in a test
// namespace, trust roots only in namespaces labelled for this run), the
// certify endpoint on loopback with real TLS and the real TokenReview, and
// leaves are checked with `openssl verify` against the published bundle.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate, randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Agent, request } from 'undici';
import { CoreV1Api, CustomObjectsApi, PatchStrategy, setHeaderOptions, type CoreV1Event } from '@kubernetes/client-node';
import { kubeConfig, testNamespace, kubectl, eventually } from '../support/kube.ts';
import { createCa, createIntermediateCa, issueLeaf, privateKeyPem, toPemPair, type KeyedCertificate } from '../../shared/tls.ts';
import { createCsr } from '../../shared/csr.ts';
import { identityName } from '../../api/identity-names.ts';
import { createLogger } from '../../shared/log.ts';
import { MeshIdentitySpec, type MeshIdentityStatusValue } from '../../api/crds/meshidentity.ts';
import { IdentityController, certifyDepsOf } from '../../operator/identity/controller.ts';
import { buildIdentityServer, identityMetrics } from '../../operator/identity/server.ts';

const kc = kubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const custom = kc.makeApiClient(CustomObjectsApi);
const run = promisify(execFile);
const CRD = resolve(import.meta.dirname, '../../crds/meshidentities.skein.dev.yaml');
const AUD = 'identity.skein-system.cluster.local';
const DAY = 86_400_000;
const pem = (k: KeyedCertificate) => k.cert.toString('pem') + '\n';
const mi = { group: 'skein.dev', version: 'v1alpha1', plural: 'meshidentities' };
const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

async function issuerSecretData(issuer: KeyedCertificate) {
  const p = await toPemPair(issuer);
  return { 'tls.crt': Buffer.from(p.certPem).toString('base64'), 'tls.key': Buffer.from(p.keyPem).toString('base64') };
}

test('MeshIdentity: status, trust roots in meshed namespaces, anchor rotation with overlap, mismatch reported and cleared', async (t) => {
  await kubectl('apply', '--server-side', '-f', CRD);
  await kubectl('wait', '--for=condition=Established', 'crd/meshidentities.skein.dev', '--timeout=60s');
  const runId = randomBytes(3).toString('hex');
  const runLabel = { 'skein.dev/e2e-identity': runId };
  const control = await testNamespace(t, 'e2e-idctl');
  const app = await testNamespace(t, 'e2e-idapp');
  const bystander = await testNamespace(t, 'e2e-idoff');
  await core.patchNamespace({ name: app, body: { metadata: { labels: runLabel, annotations: { 'skein.dev/inject': 'enabled' } } } }, merge);
  await core.patchNamespace({ name: bystander, body: { metadata: { labels: runLabel } } }, merge);
  const dir = mkdtempSync(join(tmpdir(), 'skein-meshidentity-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));

  const [anchorA, anchorB, anchorC] = await Promise.all(['anchor-a', 'anchor-b', 'anchor-c'].map((cn) => createCa({ commonName: cn, validForMs: 10 * DAY, pathLength: 1 })));
  const issuerA = await createIntermediateCa(anchorA!, { commonName: 'issuer-a', validForMs: 5 * DAY });
  const issuerB = await createIntermediateCa(anchorB!, { commonName: 'issuer-b', validForMs: 5 * DAY });
  const issuerC = await createIntermediateCa(anchorC!, { commonName: 'issuer-c', validForMs: 5 * DAY });

  await core.createNamespacedSecret({ namespace: control, body: { metadata: { name: 'skein-issuer' }, type: 'kubernetes.io/tls', data: await issuerSecretData(issuerA) } });
  await core.createNamespacedConfigMap({ namespace: control, body: { metadata: { name: 'skein-trust-anchors' }, data: { 'ca-bundle.crt': pem(anchorA!) } } });
  const setAnchors = (...anchors: KeyedCertificate[]) => core.replaceNamespacedConfigMap({ namespace: control, name: 'skein-trust-anchors', body: { metadata: { name: 'skein-trust-anchors' }, data: { 'ca-bundle.crt': anchors.map(pem).join('') } } });
  const setIssuer = async (issuer: KeyedCertificate) => core.replaceNamespacedSecret({ namespace: control, name: 'skein-issuer', body: { metadata: { name: 'skein-issuer' }, type: 'kubernetes.io/tls', data: await issuerSecretData(issuer) } });

  const name = `e2e-${runId}`;
  await custom.createClusterCustomObject({ ...mi, body: { apiVersion: 'skein.dev/v1alpha1', kind: 'MeshIdentity', metadata: { name }, spec: { issuer: { namespace: control }, trustAnchors: { namespace: control }, leafLifetime: '2h', expiringSoonMargin: '1h' } } });
  t.after(async () => { await custom.deleteClusterCustomObject({ ...mi, name }); });

  const metrics = identityMetrics();
  const log = createLogger('meshidentity-e2e', 'silent');
  const controller = new IdentityController({
    kubeConfig: kc, meshIdentityName: name, fallback: MeshIdentitySpec.parse({}), metrics, log,
    namespaceLabelSelector: `skein.dev/e2e-identity=${runId}`, countsIntervalMs: 1_000, resyncMs: 5_000,
  });
  t.after(() => controller.stop());
  await controller.start();
  assert.equal(controller.settings().leafLifetime, '2h', 'the settings come from the MeshIdentity');

  const servingCa = await createCa({ commonName: 'e2e-serving', validForMs: DAY });
  const serving = await issueLeaf(servingCa, { subject: 'CN=skein-identity', ipAddresses: ['127.0.0.1'], usages: ['server'], validForMs: DAY });
  const server = buildIdentityServer({ tls: { cert: serving.cert.toString('pem'), key: await privateKeyPem(serving.keys!.privateKey) }, deps: certifyDepsOf(controller, kc), metrics, logger: log });
  await server.listen({ port: 0, host: '127.0.0.1' });
  t.after(async () => { await server.close(); });
  const url = `https://127.0.0.1:${(server.server.address() as { port: number }).port}/certify`;
  const agent = new Agent({ connect: { ca: servingCa.cert.toString('pem') } });
  t.after(async () => { await agent.close(); });

  await core.createNamespacedServiceAccount({ namespace: app, body: { metadata: { name: 'web' } } });
  const token = (await core.createNamespacedServiceAccountToken({ name: 'web', namespace: app, body: { spec: { audiences: [AUD], expirationSeconds: 600 } } })).status?.token ?? '';
  const csr = JSON.stringify({ csr: (createCsr(identityName('web', app, 'cluster.local'))).csrPem });
  const certify = async (): Promise<{ leaf: string; chain: string }> => {
    const res = await request(url, { method: 'POST', dispatcher: agent, body: csr, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' } });
    const body = await res.body.json() as { certificate?: string; chain?: string[]; message?: string };
    if (res.statusCode !== 200 || !body.certificate) throw new Error(`certify answered ${res.statusCode}: ${body.message ?? ''}`);
    return { leaf: body.certificate, chain: (body.chain ?? []).join('') };
  };

  // Certify keeps running through every step below; each step checks nothing failed meanwhile.
  const load = { ok: 0, failures: [] as string[], stop: false };
  const loop = (async () => {
    while (!load.stop) {
      try { await certify(); load.ok++; } catch (err) { load.failures.push(err instanceof Error ? err.message : String(err)); }
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  t.after(async () => { load.stop = true; await loop; });

  const status = async () => ((await custom.getClusterCustomObject({ ...mi, name })) as { status?: MeshIdentityStatusValue }).status;
  const condition = (s: MeshIdentityStatusValue | undefined, type: string) => s?.conditions?.find((c) => c.type === type);
  const untilStatus = (what: string, ok: (s: MeshIdentityStatusValue) => boolean) =>
    eventually(`MeshIdentity ${name}: ${what}`, async () => { const s = await status(); return s && ok(s) ? s : undefined; }, 30_000);
  const published = (ns: string) => core.readNamespacedConfigMap({ namespace: ns, name: 'skein-trust-roots' }).then((c) => c.data?.['ca-bundle.crt'] ?? '', () => '');
  const untilPublished = (...anchors: KeyedCertificate[]) => eventually(`trust roots in ${app} = ${anchors.map((a) => a.cert.subject).join('+')}`, async () => {
    const bundle = await published(app);
    return bundle === anchors.map(pem).join('') ? bundle : undefined;
  }, 30_000);
  const fingerprint = (k: KeyedCertificate) => new X509Certificate(Buffer.from(k.cert.rawData)).fingerprint256;
  /** `openssl verify` of a leaf and its chain against a bundle, as a peer holding that bundle would. */
  const verifies = async (leaf: { leaf: string; chain: string }, bundle: string): Promise<boolean> => {
    const files = { ca: join(dir, `ca-${randomBytes(4).toString('hex')}.pem`), chain: join(dir, 'chain.pem'), leaf: join(dir, 'leaf.pem') };
    writeFileSync(files.ca, bundle); writeFileSync(files.chain, leaf.chain); writeFileSync(files.leaf, leaf.leaf);
    return run('openssl', ['verify', '-CAfile', files.ca, '-untrusted', files.chain, files.leaf]).then(() => true, () => false);
  };
  const noFailures = (step: string) => assert.deepEqual(load.failures, [], `certify failed during ${step}`);

  await t.test('status: the issuer in use, its anchor, all conditions settled, observedGeneration', async () => {
    const s = await untilStatus('IssuerValid=True', (x) => condition(x, 'IssuerValid')?.status === 'True');
    assert.equal(s.issuer?.fingerprintSHA256, fingerprint(issuerA));
    assert.deepEqual(s.trustAnchors?.map((a) => a.fingerprintSHA256), [fingerprint(anchorA!)]);
    assert.equal(condition(s, 'TrustAnchorMismatch')?.status, 'False');
    assert.equal(condition(s, 'IssuerExpiringSoon')?.status, 'False');
    assert.equal(condition(s, 'SpecValid')?.status, 'True');
    assert.equal(condition(s, 'IssuerValid')?.observedGeneration, 1);
    const printed = await kubectl('get', 'meshidentity', name);
    assert.match(printed, /TRUST DOMAIN\s+ISSUER VALID\s+EXPIRING SOON\s+ANCHOR MISMATCH/);
  });

  await t.test('trust roots go to namespaces that asked for injection, labelled and owned by skein-identity', async () => {
    await untilPublished(anchorA!);
    const cm = await core.readNamespacedConfigMap({ namespace: app, name: 'skein-trust-roots' });
    assert.equal(cm.metadata?.labels?.['app.kubernetes.io/managed-by'], 'skein-identity');
    assert.ok(cm.metadata?.managedFields?.some((f) => f.manager === 'skein-identity-trust-roots' && f.operation === 'Apply'), 'written with server-side apply under its own manager');
    assert.equal(await published(bystander), '', 'a namespace without injection or meshed pods gets nothing');
  });

  const oldLeaf = await certify();
  await t.test('anchor rotation, step 1: the new anchor joins the bundle; proxies get old+new; the old issuer still signs', async () => {
    await setAnchors(anchorA!, anchorB!);
    const bundle = await untilPublished(anchorA!, anchorB!);
    assert.ok(await verifies(oldLeaf, bundle), 'a leaf of the old issuer verifies against old+new');
    assert.ok(await verifies(await certify(), bundle));
    noFailures('adding the new anchor');
  });

  await t.test('step 2: switch the issuer to one signed by the new anchor; leaves of both issuers verify against the bundle', async () => {
    await setIssuer(issuerB);
    const s = await untilStatus('issuer B in use', (x) => x.issuer?.fingerprintSHA256 === fingerprint(issuerB));
    assert.equal(condition(s, 'TrustAnchorMismatch')?.status, 'False');
    const newLeaf = await certify();
    assert.equal(new X509Certificate(newLeaf.leaf).issuer, 'CN=issuer-b');
    const bundle = await published(app);
    assert.ok(await verifies(oldLeaf, bundle), 'old issuer\'s leaf still verifies during the overlap');
    assert.ok(await verifies(newLeaf, bundle), 'new issuer\'s leaf verifies');
    assert.equal(await verifies(newLeaf, pem(anchorA!)), false, 'and it does need the new anchor (the check can fail)');
    noFailures('switching the issuer');
  });

  await t.test('step 3: remove the old anchor; certify goes on; only the new issuer\'s leaves verify', async () => {
    await setAnchors(anchorB!);
    const bundle = await untilPublished(anchorB!);
    assert.ok(await verifies(await certify(), bundle));
    assert.equal(await verifies(oldLeaf, bundle), false, 'the old issuer is no longer trusted');
    await untilStatus('one anchor', (x) => x.trustAnchors?.length === 1 && condition(x, 'TrustAnchorMismatch')?.status === 'False');
    noFailures('removing the old anchor');
  });

  await t.test('TrustAnchorMismatch: an issuer signed by an anchor not in the bundle is refused and reported; fixed by adding its anchor', async () => {
    await setIssuer(issuerC);
    const bad = await untilStatus('TrustAnchorMismatch=True', (x) => condition(x, 'TrustAnchorMismatch')?.status === 'True');
    assert.equal(condition(bad, 'IssuerValid')?.status, 'False');
    assert.match(condition(bad, 'IssuerValid')?.message ?? '', /still signing with CN=issuer-b/);
    assert.equal(bad.issuer?.fingerprintSHA256, fingerprint(issuerB), 'the last good issuer stays in use');
    assert.equal(new X509Certificate((await certify()).leaf).issuer, 'CN=issuer-b');
    const events = await eventually('a Warning Event on the MeshIdentity', async () => {
      const list = await core.listNamespacedEvent({ namespace: 'default', fieldSelector: `involvedObject.name=${name},involvedObject.kind=MeshIdentity` });
      return list.items.some((e: CoreV1Event) => e.type === 'Warning' && e.reason === 'IssuerNotSignedByAnchor') ? list.items : undefined;
    }, 30_000);
    assert.ok(events.some((e) => e.reason === 'IssuerRotated'), 'the earlier switch to issuer B was an Event too');

    await setAnchors(anchorB!, anchorC!);
    const fixed = await untilStatus('TrustAnchorMismatch=False', (x) => condition(x, 'TrustAnchorMismatch')?.status === 'False' && condition(x, 'IssuerValid')?.status === 'True');
    assert.equal(fixed.issuer?.fingerprintSHA256, fingerprint(issuerC), 'the issuer refused before is taken once its anchor is trusted');
    assert.notEqual(condition(fixed, 'TrustAnchorMismatch')?.lastTransitionTime, condition(bad, 'TrustAnchorMismatch')?.lastTransitionTime);
    noFailures('the mismatch');
  });

  await t.test('an invalid spec is reported; the service keeps its last good settings', async () => {
    await custom.patchClusterCustomObject({ ...mi, name, body: { spec: { leafLifetime: '5s' } } }, merge);
    const s = await untilStatus('SpecValid=False', (x) => condition(x, 'SpecValid')?.status === 'False');
    assert.match(condition(s, 'SpecValid')?.message ?? '', /spec\.leafLifetime: leafLifetime must be between 10m and 720h/);
    assert.equal(condition(s, 'SpecValid')?.observedGeneration, 2);
    const leaf = new X509Certificate((await certify()).leaf);
    const lifetime = new Date(leaf.validTo).getTime() - new Date(leaf.validFrom).getTime();
    assert.ok(lifetime > 3_600_000, `still the last good lifetime (2h plus skew), got ${lifetime} ms`);
  });

  await t.test('counts: certificates issued and rejected reach the status', async () => {
    await request(url, { method: 'POST', dispatcher: agent, body: csr, headers: { authorization: 'Bearer garbage', 'content-type': 'application/json' } }).then((r) => r.body.dump());
    const issuedHere = load.ok;
    await untilStatus(`at least ${issuedHere} issued and 1 rejected`, (x) => (x.certificatesIssued ?? 0) >= issuedHere && (x.certificatesRejected ?? 0) >= 1);
  });
  load.stop = true;
  await loop;
  noFailures('the whole test');
  assert.ok(load.ok > 10, `certify was called throughout (${load.ok})`);
});
