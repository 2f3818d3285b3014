import assert from 'node:assert/strict';
import net, { type AddressInfo } from 'node:net';
import { after, test } from 'node:test';
import type { Endpoint } from '../../api/discovery-protocol.ts';
import { EndpointLayer } from './endpoint.ts';
import type { ProxyError } from './errors.ts';
import { ALPN } from './mesh-tls.ts';

let accepted = 0;
const server = net.createServer((s) => { accepted++; s.on('error', () => undefined); });
await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
const port = (server.address() as AddressInfo).port;
after(() => server.close());

test('a plain endpoint: one pool key and dialler per endpoint object, made once; connections go where dialAddress says', async () => {
  const layer = new EndpointLayer({ connectTimeoutMs: 1_000, idleMs: 1_000, dialAddress: () => ({ host: '127.0.0.1', port }) });
  after(() => layer.close());
  const e: Endpoint = { ip: '198.18.0.9', port: 8080, protocolHint: 'http', labels: {} };
  const up = layer.h1(e);
  assert.equal(up, layer.h1(e), 'made once per endpoint object');
  assert.equal(up.key, `plain/127.0.0.1:${port}`);
  const before = accepted;
  const s = await layer.connect(e, ALPN.opaque);
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(accepted - before, 1);
  s.destroy();
});

test('a meshed endpoint without a workload certificate yet is refused as no_identity, before any connection', async () => {
  const { MeshTls } = await import('./mesh-tls.ts');
  const layer = new EndpointLayer({ tls: new MeshTls(''), connectTimeoutMs: 1_000, idleMs: 1_000, dialAddress: () => ({ host: '127.0.0.1', port }) });
  after(() => layer.close());
  const e: Endpoint = { ip: '198.18.0.9', port: 8080, protocolHint: 'http', labels: {}, identity: 'web.shop.serviceaccount.identity.skein-system.cluster.local' };
  assert.match(layer.h1(e).key, /^mtls\/127\.0\.0\.1:\d+\/web\.shop/);
  await assert.rejects(layer.connect(e, ALPN.http1), (err: ProxyError) => err.code === 'no_identity');
});

