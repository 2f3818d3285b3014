// Inbound mTLS termination alone, with real certificates on loopback: a peer
// with a workload certificate comes out with its identity and the protocol
// its ALPN named; refusals are counted by reason.
import assert from 'node:assert/strict';
import net, { type AddressInfo } from 'node:net';
import { after, test } from 'node:test';
import tls from 'node:tls';
import { pino } from 'pino';
import { Registry } from '../../shared/prom-text.ts';
import { createCa } from '../../shared/tls.ts';
import { ALPN, MeshTls, type Alpn } from './mesh-tls.ts';
import { ProxyMetrics } from './metrics.ts';
import { handshakeRefusal, MtlsTerminator, type Terminated } from './terminate.ts';
import { CLIENT_ID, counter, SERVER_ID, workloadCert } from './test-pair.ts';

const ca = await createCa({ commonName: 'terminate test', validForMs: 3_600_000 });
const roots = ca.cert.toString('pem');
const server = new MeshTls(roots);
server.update(await workloadCert(ca, { identity: SERVER_ID }));
const client = new MeshTls(roots);
client.update(await workloadCert(ca, { identity: CLIENT_ID }));
const registry = new Registry();
const done: Terminated[] = [];
const waiters: (() => void)[] = [];
const terminator = new MtlsTerminator({ tls: server, metrics: new ProxyMetrics(registry), log: pino({ level: 'silent' }), handshakeTimeoutMs: 1_000 }, (t) => {
  done.push(t);
  t.socket.end();
  for (const w of waiters.splice(0)) w();
});
const listener = net.createServer((s) => terminator.terminate(s, 8080));
await new Promise<void>((r) => listener.listen(0, '127.0.0.1', () => r()));
const port = (listener.address() as AddressInfo).port;
after(() => listener.close());

test('a peer with a workload certificate: its identity, the app port and the protocol its ALPN named', async () => {
  for (const [alpn, protocol] of [[ALPN.http2, 'http2'], [ALPN.http1, 'http1'], [ALPN.opaque, 'opaque']] as [Alpn, string][]) {
    const arrived = new Promise<void>((r) => waiters.push(r));
    const s = await client.connect({ host: '127.0.0.1', port, identity: SERVER_ID, alpn, timeoutMs: 2_000 });
    await arrived;
    s.destroy();
    const t = done.at(-1)!;
    assert.deepEqual({ clientId: t.clientId, appPort: t.appPort, protocol: t.protocol }, { clientId: CLIENT_ID, appPort: 8080, protocol });
  }
});

test('a client without a certificate is refused and counted as no_client_certificate', async () => {
  const before = done.length;
  const s = tls.connect({ host: '127.0.0.1', port, ca: roots, servername: SERVER_ID, ALPNProtocols: [ALPN.http1], checkServerIdentity: () => undefined });
  s.on('error', () => {});
  await new Promise((r) => s.once('close', r));
  assert.equal(done.length, before);
  assert.equal(counter(await registry.metrics(), 'inbound_refused_total{reason="no_client_certificate"}'), 1);
});

test('refusal reasons', () => {
  assert.equal(handshakeRefusal({ code: 'ERR_TLS_HANDSHAKE_TIMEOUT', message: 'timeout' }), 'tls_handshake_timeout');
  assert.equal(handshakeRefusal({ code: 'ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE', message: 'x' }), 'no_client_certificate');
  assert.equal(handshakeRefusal({ message: 'wrong version number' }), 'tls_handshake');
});
