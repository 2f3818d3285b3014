// The hand-written CSR against two independent readers: @peculiar/x509 (a
// dev dependency here, no longer loaded by the proxy) and `openssl req`, over
// random identities whose lengths cross DER's one-, two- and three-byte
// length forms. The identity CA's own reader is checked in
// operator/identity/sign.test.ts, which signs these CSRs.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { x509 } from './x509.ts';
import { createCsr, CsrError } from './csr.ts';

/** A seeded generator, so a failure replays (SKEIN_CSR_SEED). */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => { s = (s * 1664525 + 1013904223) >>> 0; return s / 2 ** 32; };
}

function randomIdentity(r: () => number): string {
  const label = () => {
    const n = 1 + Math.floor(r() * 40);
    let l = '';
    for (let i = 0; i < n; i++) l += 'abcdefghijklmnopqrstuvwxyz0123456789'[Math.floor(r() * 36)];
    return l;
  };
  const labels = [label(), label()];
  while (r() < 0.7 && labels.join('.').length < 200) labels.push(label());
  return `${labels.join('.')}.serviceaccount.identity.skein-system.cluster.local`.slice(-253).replace(/^[.-]+/, '');
}

const SEED = Number(process.env.SKEIN_CSR_SEED ?? Date.now() % 100_000);

test(`random identities: subject CN and the one DNS SAN are the identity, the signature verifies (seed ${SEED})`, async () => {
  const r = rng(SEED);
  for (let i = 0; i < 40; i++) {
    const identity = randomIdentity(r);
    const csr = createCsr(identity);
    const parsed = new x509.Pkcs10CertificateRequest(csr.csrPem);
    assert.equal(parsed.subject, `CN=${identity}`, identity);
    const san = parsed.getExtension('2.5.29.17') as x509.SubjectAlternativeNameExtension | null;
    assert.deepEqual(san?.names.toJSON(), [{ type: 'dns', value: identity }], identity);
    assert.equal(await parsed.verify(), true, `signature of the CSR for ${identity}`);
    assert.match(csr.keyPem, /^-----BEGIN PRIVATE KEY-----/);
  }
});

test('openssl reads and verifies the CSR', (t) => {
  const csr = createCsr('web.shop.serviceaccount.identity.skein-system.cluster.local');
  let out: string;
  try {
    out = execFileSync('openssl', ['req', '-verify', '-noout', '-text'], { input: csr.csrPem, stdio: ['pipe', 'pipe', 'pipe'] }).toString();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') { t.skip('no openssl on this machine'); return; }
    throw err;
  }
  assert.match(out, /Subject: CN\s*=\s*web\.shop\.serviceaccount/);
  assert.match(out, /DNS:web\.shop\.serviceaccount\.identity\.skein-system\.cluster\.local/);
  assert.match(out, /ecdsa-with-SHA256/);
});

test('a name that is not a DNS name is refused with what an identity looks like', () => {
  for (const bad of ['', 'UPPER.case', 'space here', 'a..b', '-lead.x', `${'a'.repeat(254)}`, 'ü.example']) {
    assert.throws(() => createCsr(bad), (e: unknown) => e instanceof CsrError && /serviceaccount\.identity/.test(e.message), JSON.stringify(bad));
  }
});
