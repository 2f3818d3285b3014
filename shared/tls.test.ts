import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import tls from 'node:tls';
import { createCa, issueLeaf, toPemPair, caFromPem, privateKeyPem, generateKeyPair } from './tls.ts';

const HOUR = 3_600_000;

test('a leaf chains to its CA and carries the names and usages asked for', async () => {
  const ca = await createCa({ commonName: 'test-ca', validForMs: HOUR });
  const leaf = await issueLeaf(ca, {
    subject: 'CN=admin, O=system:masters',
    dnsNames: ['localhost'],
    ipAddresses: ['127.0.0.1'],
    uris: ['spiffe://cluster.local/ns/a/sa/b'],
    usages: ['server', 'client'],
    validForMs: HOUR,
  });
  const caCert = new X509Certificate(ca.cert.toString('pem'));
  const leafCert = new X509Certificate(leaf.cert.toString('pem'));
  assert.ok(caCert.ca, 'CA certificate has basicConstraints CA:TRUE');
  assert.equal(leafCert.ca, false);
  assert.ok(leafCert.checkIssued(caCert));
  assert.ok(leafCert.verify(caCert.publicKey));
  assert.match(leafCert.subject, /O=system:masters/);
  assert.match(leafCert.subjectAltName ?? '', /DNS:localhost/);
  assert.match(leafCert.subjectAltName ?? '', /IP Address:127\.0\.0\.1/);
  assert.match(leafCert.subjectAltName ?? '', /URI:spiffe:\/\/cluster\.local\/ns\/a\/sa\/b/);
  assert.deepEqual([...(leafCert.keyUsage ?? [])].sort(), ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']);
  assert.equal(leafCert.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
});

test('a leaf never outlives its issuer', async () => {
  const ca = await createCa({ commonName: 'short-ca', validForMs: HOUR });
  const leaf = await issueLeaf(ca, { subject: 'CN=x', usages: ['server'], validForMs: 100 * HOUR });
  assert.ok(leaf.cert.notAfter.getTime() <= ca.cert.notAfter.getTime());
});

test('a leaf can be issued for a key the caller keeps', async () => {
  const ca = await createCa({ commonName: 'ca', validForMs: HOUR });
  const own = await generateKeyPair();
  const leaf = await issueLeaf(ca, { subject: 'CN=pod', usages: ['client'], validForMs: HOUR, publicKey: own.publicKey });
  assert.equal(leaf.keys, undefined, 'no key is generated when one is given');
  const spkiOfLeaf = new X509Certificate(leaf.cert.toString('pem')).publicKey.export({ type: 'spki', format: 'der' });
  const spkiOfOwn = Buffer.from(await crypto.subtle.exportKey('spki', own.publicKey));
  assert.deepEqual(Buffer.from(spkiOfLeaf), spkiOfOwn);
});

test('a CA reloaded from PEM signs leaves that chain to the original', async () => {
  const ca = await createCa({ commonName: 'reload-ca', validForMs: HOUR });
  const reloaded = await caFromPem(await toPemPair(ca));
  const leaf = await issueLeaf(reloaded, { subject: 'CN=after-restart', usages: ['server'], validForMs: HOUR });
  assert.ok(new X509Certificate(leaf.cert.toString('pem')).verify(new X509Certificate(ca.cert.toString('pem')).publicKey));
});

test('issued certificates complete a mutual TLS handshake with Node TLS', async () => {
  const ca = await createCa({ commonName: 'mtls-ca', validForMs: HOUR });
  const server = await issueLeaf(ca, { subject: 'CN=server', ipAddresses: ['127.0.0.1'], usages: ['server'], validForMs: HOUR });
  const client = await issueLeaf(ca, { subject: 'CN=client', usages: ['client'], validForMs: HOUR });
  const caPem = ca.cert.toString('pem');
  const srv = tls.createServer({
    cert: server.cert.toString('pem'),
    key: await privateKeyPem(server.keys!.privateKey),
    ca: caPem,
    requestCert: true,
    rejectUnauthorized: true,
    minVersion: 'TLSv1.3',
  }, (socket) => socket.end(`hello ${String(socket.getPeerCertificate().subject.CN)}`));
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  try {
    const { port } = srv.address() as { port: number };
    const socket = tls.connect({
      host: '127.0.0.1', port, ca: caPem,
      cert: client.cert.toString('pem'),
      key: await privateKeyPem(client.keys!.privateKey),
    });
    let reply = '';
    socket.setEncoding('utf8').on('data', (d: string) => { reply += d; });
    await once(socket, 'end');
    assert.equal(reply, 'hello client');
  } finally {
    srv.close();
  }
});
