// The inbound route layer alone: admission per request and per connection,
// refusals counted, and what the app is told about the client.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Registry } from '../../shared/prom-text.ts';
import type { InboundUpdate } from '../../api/discovery-protocol.ts';
import { compileInbound } from './authz.ts';
import { CLIENT_ID, ORIG_PROTO } from './headers.ts';
import { appHeaders, droppedFrom, inboundLabels, InboundAuthorizer, type InboundConnection } from './inbound-route.ts';
import { ProxyMetrics } from './metrics.ts';
import { ROUTE_OVERRIDE } from './route-override.ts';
import { counter } from './test-pair.ts';

const WEB = 'web.shop.serviceaccount.identity.skein-system.cluster.local';
const meshed: InboundConnection = { appPort: 8080, clientId: WEB, clientIp: '198.18.0.5', h2: false };
const plaintext: InboundConnection = { appPort: 8080, clientId: undefined, clientIp: '198.18.0.6', h2: false };
const policy = compileInbound({
  type: 'inbound', defaultPolicy: 'all-unauthenticated', probes: [], clusterNetworks: [],
  ports: [{ port: 8080, authorizations: [{ policy: 'shop/web-only', identities: [WEB], identitySuffixes: [], anyMeshed: false, unauthenticatedNetworks: [] }] }],
} satisfies InboundUpdate);

test('without a policy everything is admitted and nothing counted', async () => {
  const registry = new Registry();
  const a = new InboundAuthorizer(new ProxyMetrics(registry));
  assert.equal(a.request(plaintext, { method: 'GET', url: '/' }), undefined);
  assert.equal(a.connection(plaintext), true);
  assert.doesNotMatch(await registry.metrics(), /^inbound_refused_total\{/m);
});

test('a port policy admits its identity only; each refusal is a 403 error counted by reason', async () => {
  const registry = new Registry();
  const a = new InboundAuthorizer(new ProxyMetrics(registry), () => policy);
  assert.equal(a.request(meshed, { method: 'GET', url: '/' }), undefined);
  assert.equal(a.connection(meshed), true);
  const refused = a.request(plaintext, { method: 'GET', url: '/' });
  assert.equal(refused?.code, 'unauthorized');
  assert.equal(refused?.status, 403);
  assert.match(refused?.message ?? '', /policy shop\/web-only/);
  assert.equal(a.connection(plaintext), false);
  const text = await registry.metrics();
  assert.equal(counter(text, 'inbound_refused_total{reason="unauthorized_unauthenticated"}'), 2, text);
});

test('the app gets the verified identity; a plaintext client may not set it, nor steer routing', () => {
  assert.deepEqual(appHeaders(meshed), { [CLIENT_ID]: WEB });
  assert.equal(appHeaders(plaintext), undefined);
  assert.deepEqual([...droppedFrom(meshed)].sort(), [CLIENT_ID, ORIG_PROTO].sort());
  assert.deepEqual([...droppedFrom(plaintext)].sort(), [CLIENT_ID, ORIG_PROTO, ROUTE_OVERRIDE].sort());
});

test('labels: tls and client_id from the connection, the app\'s address as target', () => {
  assert.deepEqual(inboundLabels({ headers: { host: 'api' } }, meshed, '127.0.0.1'), { direction: 'inbound', authority: 'api', targetAddr: '127.0.0.1:8080', tls: 'true', clientId: WEB });
  assert.deepEqual(inboundLabels({ headers: {} }, plaintext, '127.0.0.1'), { direction: 'inbound', authority: '127.0.0.1:8080', targetAddr: '127.0.0.1:8080', tls: 'false' });
});
