import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import tls from 'node:tls';
import { X509Certificate, webcrypto } from 'node:crypto';
import { x509 } from '../../shared/x509.ts';
import { createCa, createIntermediateCa } from '../../shared/tls.ts';
import { createCsr } from '../../shared/csr.ts';
import { identityName, spiffeId } from '../../api/identity-names.ts';
import { checkCsr, signLeaf, CertifyRefused, type RefusalCode } from './sign.ts';

const HOUR = 3_600_000;
const td = 'cluster.local';
const web = identityName('web', 'shop', td);
const anchor = await createCa({ commonName: 'skein-trust-anchor', validForMs: 24 * 365 * HOUR });
const issuer = await createIntermediateCa(anchor, { commonName: 'skein-issuer', validForMs: 24 * 30 * HOUR });

async function certify(identity: string, sa = 'web', ns = 'shop') {
  const csr = createCsr(identity);
  const key = await checkCsr(csr.csrPem, identityName(sa, ns, td));
  const leaf = await signLeaf(issuer, key, { identity, spiffeId: spiffeId(sa, ns, td), lifetimeMs: 24 * HOUR, clockSkewMs: 60_000 });
  return { leaf, keyPem: csr.keyPem };
}

const refused = (code: RefusalCode) => (err: unknown) => err instanceof CertifyRefused && err.code === code;

test('the leaf names the identity (DNS) and its SPIFFE ID (URI), serves and authenticates, and lives 24 h', async () => {
  const { leaf } = await certify(web);
  const c = new X509Certificate(leaf.pem);
  assert.equal(c.subjectAltName, `DNS:${web}, URI:spiffe://cluster.local/ns/shop/sa/web`);
  assert.deepEqual([...(c.keyUsage ?? [])].sort(), ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']);
  const life = new Date(c.validTo).getTime() - new Date(c.validFrom).getTime();
  assert.ok(Math.abs(life - (24 * HOUR + 60_000)) < 2_000, 'lifetime plus the skew allowance');
  assert.ok(new Date(c.validFrom).getTime() <= Date.now() - 59_000, 'backdated by the clock skew');
});

test('openssl verifies the leaf against the trust anchor through the issuer', async () => {
  const { leaf } = await certify(web);
  const dir = mkdtempSync(join(tmpdir(), 'skein-identity-'));
  writeFileSync(join(dir, 'anchor.pem'), anchor.cert.toString('pem'));
  writeFileSync(join(dir, 'issuer.pem'), issuer.cert.toString('pem'));
  writeFileSync(join(dir, 'leaf.pem'), leaf.pem);
  const out = execFileSync('openssl', ['verify', '-CAfile', join(dir, 'anchor.pem'), '-untrusted', join(dir, 'issuer.pem'), '-purpose', 'sslclient', join(dir, 'leaf.pem')], { encoding: 'utf8' });
  assert.match(out, /leaf\.pem: OK/);
});

test('Node TLS accepts the leaves as client and server, checking the peer identity', async () => {
  const server = await certify(identityName('books', 'shop', td), 'books');
  const client = await certify(web);
  const chain = (leaf: { pem: string }) => leaf.pem + issuer.cert.toString('pem');
  const ca = anchor.cert.toString('pem');
  let clientName = '';
  const srv = tls.createServer({ cert: chain(server.leaf), key: server.keyPem, ca, requestCert: true, rejectUnauthorized: true }, (s) => {
    clientName = String(s.getPeerCertificate().subjectaltname);
    s.end('ok');
  }).listen(0, '127.0.0.1');
  await once(srv, 'listening');
  try {
    const port = (srv.address() as { port: number }).port;
    const expected = identityName('books', 'shop', td);
    const sock = tls.connect({ host: '127.0.0.1', port, ca, cert: chain(client.leaf), key: client.keyPem, servername: expected,
      checkServerIdentity: (_host, cert) => (cert.subjectaltname?.includes(`DNS:${expected}`) ? undefined : new Error(`peer is not ${expected}`)) });
    let reply = '';
    sock.setEncoding('utf8').on('data', (d: string) => { reply += d; });
    await once(sock, 'end');
    assert.equal(reply, 'ok');
    assert.match(clientName, new RegExp(`DNS:${web.replace(/\./g, '\\.')}`));
  } finally {
    srv.close();
  }
});

test('a CSR for another identity is refused', async () => {
  await assert.rejects(certify(identityName('admin', 'kube-system', td)), refused('name_mismatch'));
});

test('a CSR with extra names is refused', async () => {
  const keys = await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']);
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: `CN=${web}`, keys, signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
    extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: web }, { type: 'dns', value: 'kubernetes.default.svc' }])],
  });
  await assert.rejects(checkCsr(csr.toString('pem'), web), refused('extra_names'));
  const withUri = await x509.Pkcs10CertificateRequestGenerator.create({
    name: `CN=${web}`, keys, signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
    extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: web }, { type: 'url', value: 'spiffe://cluster.local/ns/kube-system/sa/admin' }])],
  });
  await assert.rejects(checkCsr(withUri.toString('pem'), web), refused('extra_names'));
});

test('a key other than P-256 is refused', async () => {
  const keys = await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-384' }, true, ['sign', 'verify']);
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: `CN=${web}`, keys, signingAlgorithm: { name: 'ECDSA', hash: 'SHA-384' },
    extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: web }])],
  });
  await assert.rejects(checkCsr(csr.toString('pem'), web), refused('key_not_p256'));
});

test('a malformed or tampered CSR is refused', async () => {
  await assert.rejects(checkCsr('-----BEGIN CERTIFICATE REQUEST-----\nnot base64 at all\n-----END CERTIFICATE REQUEST-----\n', web), refused('csr_malformed'));
  await assert.rejects(checkCsr('', web), refused('csr_malformed'));
  // Swap the signature of one CSR into another: the signature no longer matches.
  const a = new x509.Pkcs10CertificateRequest((createCsr(web)).csrPem);
  const der = new Uint8Array(a.rawData);
  der[der.length - 5] = (der[der.length - 5] ?? 0) ^ 0xff;
  const tampered = `-----BEGIN CERTIFICATE REQUEST-----\n${Buffer.from(der).toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
  await assert.rejects(checkCsr(tampered, web), (err: unknown) => err instanceof CertifyRefused && (err.code === 'csr_signature_invalid' || err.code === 'csr_malformed'));
});

test('a leaf never outlives its issuer', async () => {
  const shortIssuer = await createIntermediateCa(anchor, { commonName: 'short', validForMs: HOUR });
  const csr = createCsr(web);
  const leaf = await signLeaf(shortIssuer, await checkCsr(csr.csrPem, web), { identity: web, spiffeId: spiffeId('web', 'shop', td), lifetimeMs: 24 * HOUR, clockSkewMs: 0 });
  assert.ok(leaf.notAfter.getTime() <= shortIssuer.cert.notAfter.getTime());
});

test('the leaf\'s extensions read as intended by openssl: not a CA, digitalSignature, the issuer\'s key id', async () => {
  const { leaf } = await certify(web);
  const dir = mkdtempSync(join(tmpdir(), 'skein-ext-'));
  writeFileSync(join(dir, 'leaf.pem'), leaf.pem);
  writeFileSync(join(dir, 'issuer.pem'), issuer.cert.toString('pem'));
  const ext = execFileSync('openssl', ['x509', '-in', join(dir, 'leaf.pem'), '-noout', '-ext', 'basicConstraints,keyUsage,extendedKeyUsage,authorityKeyIdentifier'], { encoding: 'utf8' });
  assert.match(ext, /Basic Constraints: critical\s+CA:FALSE/);
  assert.match(ext, /Key Usage: critical\s+Digital Signature/);
  assert.match(ext, /TLS Web Server Authentication, TLS Web Client Authentication/);
  const ski = execFileSync('openssl', ['x509', '-in', join(dir, 'issuer.pem'), '-noout', '-ext', 'subjectKeyIdentifier'], { encoding: 'utf8' }).split('\n')[1]?.trim() ?? '';
  assert.ok(ski.length > 10 && ext.includes(ski), 'the authority key id is the issuer\'s subject key id');
});

test('every single-byte change of a CSR is refused (low, high and all bits of each byte), every truncation too, with a typed refusal', async () => {
  const good = Buffer.from((createCsr(web)).csrPem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
  const pem = (b: Buffer) => `-----BEGIN CERTIFICATE REQUEST-----\n${b.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
  const isTyped = (what: string) => (err: unknown) => {
    assert.ok(err instanceof CertifyRefused, `${what} threw ${String(err)}`);
    return true;
  };
  for (let at = 0; at < good.length; at++) {
    for (const mask of [0x01, 0x80, 0xff]) {
      const b = Buffer.from(good);
      b[at] = (b[at] ?? 0) ^ mask;
      await assert.rejects(checkCsr(pem(b), web), isTyped(`byte ${at} ^ 0x${mask.toString(16)}`), `byte ${at} ^ 0x${mask.toString(16)} was certified`);
    }
  }
  for (let len = 0; len < good.length; len++) {
    await assert.rejects(checkCsr(pem(good.subarray(0, len)), web), isTyped(`truncated to ${len}`), `truncated to ${len} bytes was certified`);
  }
  await assert.doesNotReject(checkCsr(pem(good), web), 'the unchanged CSR passes');
});
