import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkPeerIdentity, identityOf } from './mesh-tls.ts';

const ID = 'api.shop.serviceaccount.identity.skein-system.cluster.local';

test('the peer must name the identity exactly: no wildcard, no parent, no URI stand-in', () => {
  assert.equal(checkPeerIdentity(ID, { subjectaltname: `DNS:${ID}, URI:spiffe://cluster.local/ns/shop/sa/api` }), undefined);
  for (const san of ['DNS:*.shop.serviceaccount.identity.skein-system.cluster.local', 'DNS:shop.serviceaccount.identity.skein-system.cluster.local', `URI:${ID}`, '']) {
    const err = checkPeerIdentity(ID, { subjectaltname: san });
    assert.ok(err, san);
    assert.equal((err as Error & { code: string }).code, 'ERR_TLS_CERT_ALTNAME_INVALID');
  }
});

test('a workload identity is the first DNS SAN', () => {
  assert.equal(identityOf({ subjectaltname: `URI:spiffe://x, DNS:${ID}, DNS:other` }), ID);
  assert.equal(identityOf({ subjectaltname: 'URI:spiffe://x' }), undefined);
  assert.equal(identityOf(undefined), undefined);
});

test('peers negotiate TLS 1.3 with the post-quantum hybrid X25519MLKEM768, read from the ServerHello on the wire', async (t) => {
  const { createCa, issueLeaf, privateKeyPem } = await import('../../shared/tls.ts');
  const { MeshTls, ALPN } = await import('./mesh-tls.ts');
  const { serverHelloGroup } = await import('./tls-group.ts');
  const net = await import('node:net');
  const ca = await createCa({ commonName: 'test root', validForMs: 3_600_000, pathLength: 1 });
  const leaf = async (id: string) => {
    const { cert, keys } = await issueLeaf(ca, { subject: `CN=${id}`, dnsNames: [id], usages: ['server', 'client'], validForMs: 3_600_000 });
    return { certPem: cert.toString('pem'), chainPem: [], keyPem: await privateKeyPem(keys!.privateKey) };
  };
  const server = new MeshTls(ca.cert.toString('pem'));
  server.update(await leaf(ID));
  const client = new MeshTls(ca.cert.toString('pem'));
  client.update(await leaf('web.shop.serviceaccount.identity.skein-system.cluster.local'));
  const tlsServer = server.createServer((s) => s.end());
  // A relay between the two keeps the first bytes the server sent.
  let fromServer = Buffer.alloc(0);
  const relay = net.createServer((down) => {
    const up = net.connect({ host: '127.0.0.1', port: (listener.address() as { port: number }).port });
    up.on('data', (b: Buffer) => { if (fromServer.length < 4096) fromServer = Buffer.concat([fromServer, b]); down.write(b); });
    down.pipe(up);
    for (const s of [up, down]) s.on('error', () => { up.destroy(); down.destroy(); });
  });
  const listener = net.createServer((s) => tlsServer.emit('connection', s));
  await new Promise<void>((r) => listener.listen(0, '127.0.0.1', () => r()));
  await new Promise<void>((r) => relay.listen(0, '127.0.0.1', () => r()));
  t.after(() => { relay.close(); listener.close(); });
  const socket = await client.connect({ host: '127.0.0.1', port: (relay.address() as { port: number }).port, identity: ID, alpn: ALPN.http1, timeoutMs: 5_000 });
  assert.equal(socket.getProtocol(), 'TLSv1.3');
  socket.destroy();
  assert.equal(serverHelloGroup(fromServer), 'X25519MLKEM768');
});

test('serverHelloGroup reads the key_share group and nothing from bytes that are not a ServerHello', async () => {
  const { serverHelloGroup } = await import('./tls-group.ts');
  // A minimal ServerHello: key_share with group 0x001d (X25519).
  const body = Buffer.concat([Buffer.from([0x03, 0x03]), Buffer.alloc(32), Buffer.from([0x00, 0x13, 0x01, 0x00]), Buffer.from([0x00, 0x08, 0x00, 0x33, 0x00, 0x04, 0x00, 0x1d, 0x00, 0x00])]);
  const hs = Buffer.concat([Buffer.from([0x02, 0x00, 0x00, body.length]), body]);
  const record = Buffer.concat([Buffer.from([0x16, 0x03, 0x03, 0x00, hs.length]), hs]);
  assert.equal(serverHelloGroup(record), 'X25519');
  assert.equal(serverHelloGroup(record.subarray(0, 20)), undefined);
  assert.equal(serverHelloGroup(Buffer.from('HTTP/1.1 200 OK\r\n')), undefined);
});
