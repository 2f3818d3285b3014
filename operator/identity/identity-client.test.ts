import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCa, createIntermediateCa, issueLeaf, privateKeyPem } from '../../shared/tls.ts';
import { createLogger } from '../../shared/log.ts';
import { identityName } from '../../api/identity-names.ts';
import { IdentityClient, backoffMs, chainsTo, type Certificate } from '../../shared/identity-client.ts';
import { buildIdentityServer, identityMetrics } from './server.ts';

const DAY = 86_400_000;
const CA_NAME = identityName('skein-identity', 'skein-system', 'cluster.local');
const WORKLOAD = identityName('web', 'shop', 'cluster.local');

test('chainsTo: a leaf verifies through its issuer to an anchor in the bundle, and not to an unrelated one', async () => {
  const anchor = await createCa({ commonName: 'anchor-a', validForMs: DAY, pathLength: 1 });
  const other = await createCa({ commonName: 'anchor-b', validForMs: DAY, pathLength: 1 });
  const issuer = await createIntermediateCa(anchor, { commonName: 'issuer-a', validForMs: DAY });
  const { cert } = await issueLeaf(issuer, { subject: 'CN=w', dnsNames: ['w'], usages: ['client', 'server'], validForMs: DAY });
  const pem = (c: { cert: { toString(f: 'pem'): string } }) => c.cert.toString('pem');
  const leaf = cert.toString('pem');
  assert.equal(chainsTo(leaf, [pem(issuer)], pem(anchor)), true);
  assert.equal(chainsTo(leaf, [pem(issuer)], `${pem(other)}\n${pem(anchor)}`), true, 'any anchor of an overlap bundle will do');
  assert.equal(chainsTo(leaf, [pem(issuer)], pem(other)), false, 'anchors replaced without overlap: the leaf no longer chains');
  assert.equal(chainsTo(leaf, [], pem(anchor)), false, 'without its issuer the leaf does not reach the anchor');
  assert.equal(chainsTo(leaf, [pem(issuer)], ''), false, 'an empty bundle trusts nothing');
});

test('backoffMs: doubles from the minimum to the maximum, drawn from the upper half of each step', () => {
  assert.deepEqual([1, 2, 3, 4, 5, 6, 7, 8].map((n) => backoffMs(n, 500, 30_000, 1)), [1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000]);
  assert.deepEqual([1, 2, 3].map((n) => backoffMs(n, 500, 30_000, 0)), [500, 1000, 2000], 'never shorter than half the step');
  assert.equal(backoffMs(1_000, 500, 30_000, 0.5), 22_500, 'a long outage stays at the maximum');
});

/** The real certify server (TokenReview stubbed) on loopback; close() takes the CA away, listen() brings it back on the same port. */
async function loopbackCa(lifetimeMs: number) {
  const anchor = await createCa({ commonName: 'anchor', validForMs: DAY, pathLength: 1 });
  const serving = await issueLeaf(anchor, { subject: 'CN=identity', dnsNames: [CA_NAME], ipAddresses: ['127.0.0.1'], usages: ['server'], validForMs: DAY });
  const tls = { cert: serving.cert.toString('pem'), key: await privateKeyPem(serving.keys!.privateKey) };
  const deps = {
    review: () => Promise.resolve({ authenticated: true, username: 'system:serviceaccount:shop:web', audiences: ['aud'] }),
    issuer: () => anchor, trustDomain: 'cluster.local', audience: 'aud', lifetimeMs, clockSkewMs: 0,
  };
  let app = buildIdentityServer({ tls, deps, metrics: identityMetrics(), logger: createLogger('identity-client-test', 'silent') });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    anchorPem: anchor.cert.toString('pem'), url: `https://127.0.0.1:${port}/certify`,
    close: () => app.close(),
    listen: async () => {
      app = buildIdentityServer({ tls, deps, metrics: identityMetrics(), logger: createLogger('identity-client-test', 'silent') });
      await app.listen({ host: '127.0.0.1', port });
    },
  };
}

/** Resolves once `count()` reaches `n`, polling: the client reports through callbacks, not promises. */
async function reach(what: string, count: () => number, n: number): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (count() >= n) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.fail(`${what}: ${count()} of ${n} after 10 s`);
}

test('the CA is away past a renewal: the current certificate is kept, attempts are retried, and the renewal lands when the CA returns', async (t) => {
  // Two-second certificates renew at 1.4 s; the margin makes the last half second not ready.
  const ca = await loopbackCa(2_000);
  const dir = mkdtempSync(join(tmpdir(), 'identity-client-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'token'), 'token');
  const issued: Certificate[] = [];
  const errors: unknown[] = [];
  const client = new IdentityClient({
    url: ca.url, serverName: CA_NAME, identity: WORKLOAD, tokenFile: join(dir, 'token'), trustRoots: () => Promise.resolve(ca.anchorPem),
    expiryMarginMs: 500, minBackoffMs: 20, maxBackoffMs: 100,
    onCertificate: (c) => issued.push(c), onError: (err) => errors.push(err),
  });
  t.after(() => client.stop());
  await client.start();
  const first = client.current;
  assert.ok(first, 'a certificate once started');
  await ca.close();

  await reach('failed renewal attempts while the CA is away', () => errors.length, 3);
  assert.equal(issued.length, 1, 'nothing new was issued');
  assert.equal(client.current?.certPem, first.certPem, 'the current certificate is kept, not dropped');
  assert.match(String(errors[0]), /ECONNREFUSED|connect/, 'each attempt failed to reach the CA');

  // Ready only while the certificate has more than the margin left: never at or past expiry.
  const expiry = first.notAfter.getTime();
  assert.equal(client.ready(expiry - 501), true, 'ready while more than the margin is left');
  assert.equal(client.ready(expiry - 500), false, 'not ready once within the margin of expiry');
  assert.equal(client.ready(expiry), false, 'never ready with an expired certificate');

  await ca.listen();
  await reach('a renewed certificate once the CA is back', () => issued.length, 2);
  const renewed = client.current;
  assert.ok(renewed && renewed.certPem !== first.certPem, 'a new certificate');
  assert.equal(renewed.keyPem, first.keyPem, 'the same key: it never leaves the proxy and is not remade');
  assert.ok(renewed.notAfter.getTime() > expiry, `its expiry moved on: ${first.notAfter.toISOString()} → ${renewed.notAfter.toISOString()}`);
  await ca.close();
});
