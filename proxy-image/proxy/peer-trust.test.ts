// Security between proxies, in process on loopback with real TLS: an
// outbound proxy refuses a peer whose certificate is from another trust
// domain, expired, or for another identity (502 with the reason header); an
// inbound proxy refuses such client certificates; and the routing override
// header from a client that is not an authorized mesh peer never reaches an app.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { createCa } from '../../shared/tls.ts';
import { CLIENT_ID, counter, SRC, startMesh, workloadCert, type Mesh } from './test-pair.ts';
import { tlsHandshake } from '../../testkit/fuzz/wire.ts';
import { PROXY_ERROR } from './headers.ts';
import { ROUTE_OVERRIDE } from './route-override.ts';

let mesh: Mesh;
before(async () => { mesh = await startMesh(); });
after(() => mesh.close());

interface Reply { status: number; headers: http.IncomingHttpHeaders; body: string }

function get(port: number, o: { localAddress?: string; headers?: http.OutgoingHttpHeaders } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: '/', agent: false, headers: { host: 'api.shop.svc', ...o.headers }, ...(o.localAddress ? { localAddress: o.localAddress } : {}) }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => { body += c.toString(); });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    }).on('error', reject);
  });
}

for (const [what, src, code] of [
  ['from another trust domain', SRC.foreignCa, 'tls_failed'],
  ['that has expired', SRC.expired, 'tls_failed'],
  ['for another identity', SRC.otherIdentity, 'peer_identity_mismatch'],
] as const) {
  test(`an outbound proxy refuses a peer certificate ${what}: 502 with ${PROXY_ERROR}: ${code}`, async () => {
    const r = await get(mesh.outboundPort, { localAddress: src });
    assert.equal(r.status, 502);
    assert.equal(r.headers[PROXY_ERROR], code);
    assert.doesNotMatch(r.body, /"url"/, 'no app answered');
  });
}

test('the control: a peer with a valid certificate is reached', async () => {
  assert.equal((await get(mesh.outboundPort, { localAddress: SRC.h1 })).status, 200);
});

test('an inbound proxy refuses client certificates from another trust domain or expired, and counts them', async () => {
  const foreign = await createCa({ commonName: 'another trust domain', validForMs: 3_600_000 });
  const port = mesh.h1Pod.port;
  // A certificate that fails verification is a refused handshake; a missing one has its own reason.
  const refused = (text: string) => counter(text, 'inbound_refused_total{reason="tls_handshake"}') + counter(text, 'inbound_refused_total{reason="no_client_certificate"}');
  const before = refused(await mesh.h1Pod.metrics.metrics());
  const present = async (c: { certPem: string; keyPem: string }) => tlsHandshake(port, { ca: mesh.trustPem, cert: c.certPem, key: c.keyPem, servername: 'api' });
  const alien = await present(await workloadCert(foreign, { identity: CLIENT_ID }));
  const expired = await present(await workloadCert(mesh.ca, { identity: CLIENT_ID, validForMs: -60_000, backdateMs: 120_000 }));
  const valid = await present(await workloadCert(mesh.ca, { identity: CLIENT_ID }));
  assert.equal(alien.ok, false, 'a certificate from another CA is refused');
  assert.equal(expired.ok, false, 'an expired certificate is refused');
  assert.equal(valid.ok, true, `the control: a valid certificate is accepted (${valid.error ?? ''})`);
  const after = refused(await mesh.h1Pod.metrics.metrics());
  assert.equal(after - before, 2, 'both refusals are counted');
});

test('the routing override from a plaintext (unauthenticated) client never reaches the app', async () => {
  const r = await get(mesh.h1Pod.port, { headers: { [ROUTE_OVERRIDE]: 'svc.shop => evil.shop' } });
  assert.equal(r.status, 200);
  assert.equal((JSON.parse(r.body) as { headers: Record<string, string> }).headers[ROUTE_OVERRIDE], undefined);
});
