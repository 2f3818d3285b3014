// The outbound route layer alone: discovery's answer per connection, and the
// decision per request (override, profile route, split), with a fake
// discovery table and no sockets beyond a stand-in for the connection.
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { test } from 'node:test';
import { pino } from 'pino';
import type { Endpoint, Update } from '../../api/discovery-protocol.ts';
import { p2cPeakEwma } from './balancer.ts';
import { Destinations } from './destinations.ts';
import { OutboundRouter, outboundLabels } from './route.ts';
import { ROUTE_OVERRIDE } from './route-override.ts';

const ep = (ip: string): Endpoint => ({ ip, port: 80, protocolHint: 'http', labels: { pod: ip } });
const web: Update = {
  type: 'update', exists: true, opaque: false, endpoints: [ep('198.18.0.1')], service: { name: 'web', namespace: 'shop', port: 80 },
  profile: {
    name: 'web.shop.svc.cluster.local', retryBudget: { retryRatio: 0.2, minRetriesPerSecond: 10, ttlMs: 10_000 },
    routes: [{ name: 'GET /api', condition: { method: 'GET', pathRegex: '/api/.*' }, responseClasses: [], isRetryable: true }],
  },
};
const staging: Update = { type: 'update', exists: true, opaque: false, endpoints: [ep('198.18.0.2')], service: { name: 'web-staging', namespace: 'shop', port: 80 } };
const canary: Update = {
  ...web, profile: undefined,
  split: [{ service: 'web-v2.shop.svc.cluster.local:80', weight: 1, endpoints: [ep('198.18.0.3')] }],
  splitMatches: [{ headers: { 'x-canary': 'yes' } }],
};

const table = new Map<string, Update>([
  ['198.18.100.1:80', web],
  ['web-staging.shop.svc.cluster.local:80', staging],
  ['198.18.100.2:80', canary],
  ['198.18.100.3:80', { type: 'update', exists: false, opaque: false, endpoints: [] }],
]);
const discovery = {
  watch(target: string, onUpdate: (u: Update) => void) {
    const u = table.get(target);
    if (u) queueMicrotask(() => onUpdate(u));
    return () => {};
  },
};

function router(honourOverride = true) {
  const destinations = new Destinations({ discovery, balancer: () => p2cPeakEwma<Endpoint>((e) => e.ip), idleMs: 60_000 });
  const r = new OutboundRouter({ destinations, firstUpdateWaitMs: () => 50, honourOverride, clusterDomain: 'cluster.local', random: () => 0, log: pino({ level: 'silent' }) });
  return { r, destinations };
}
const socket = () => new EventEmitter() as unknown as Socket;
const original = (ip: string) => ({ ip, port: 80, family: 4 as const });

test('a connection gets discovery\'s destination; an unknown or silent address is passed through (undefined)', async () => {
  const { r, destinations } = router();
  try {
    const d = await r.destination(socket(), original('198.18.100.1'));
    assert.equal(d?.service, 'web.shop:80');
    assert.equal(await r.destination(socket(), original('198.18.100.3')), undefined, 'exists: false');
    assert.equal(await r.destination(socket(), original('198.18.100.9')), undefined, 'no answer within the wait');
  } finally {
    destinations.close();
  }
});

test('a request gets the profile\'s route, [default] when none matches, and the destination\'s balancer', async () => {
  const { r, destinations } = router();
  try {
    const d = (await r.destination(socket(), original('198.18.100.1')))!;
    const api = await r.route(d, { method: 'GET', url: '/api/items', headers: {} });
    assert.equal(api.route?.name, 'GET /api');
    assert.equal(api.routeLabel, 'GET /api');
    assert.equal(api.balancer, d.balancer);
    assert.equal(api.dstService, undefined, 'no split, no override: dst_service stays off');
    const other = await r.route(d, { method: 'POST', url: '/api/items', headers: {} });
    assert.equal(other.route, undefined);
    assert.equal(other.routeLabel, '[default]');
  } finally {
    destinations.close();
  }
});

test('skein-route sends the request to the named Service of the same port, held until released; ignored when turned off', async () => {
  for (const honour of [true, false]) {
    const { r, destinations } = router(honour);
    try {
      const d = (await r.destination(socket(), original('198.18.100.1')))!;
      const decision = await r.route(d, { method: 'GET', url: '/', headers: { [ROUTE_OVERRIDE]: 'web => web-staging' } });
      if (honour) {
        assert.equal(decision.destination.service, 'web-staging.shop:80');
        assert.equal(decision.dstService, 'web-staging.shop:80');
        assert.equal(decision.destination.connections, 1);
        decision.release();
        assert.equal(decision.destination.connections, 0);
      } else {
        assert.equal(decision.destination, d);
      }
    } finally {
      destinations.close();
    }
  }
});

test('a split applies only to the requests its matches select; they go to a backend\'s balancer with its dst_service', async () => {
  const { r, destinations } = router();
  try {
    const d = (await r.destination(socket(), original('198.18.100.2')))!;
    const split = await r.route(d, { method: 'GET', url: '/', headers: { 'x-canary': 'yes' } });
    assert.notEqual(split.balancer, d.balancer);
    assert.equal(split.balancer.pick()?.endpoint.ip, '198.18.0.3');
    assert.equal(split.dstService, 'web-v2.shop.svc.cluster.local:80');
    const plain = await r.route(d, { method: 'GET', url: '/', headers: {} });
    assert.equal(plain.balancer, d.balancer);
    assert.equal(plain.dstService, 'web.shop:80', 'a split Service labels its own requests too');
  } finally {
    destinations.close();
  }
});

test('labels: the authority falls back to the original address; a meshed endpoint adds its identity', () => {
  const ctx = { destination: undefined as never, original: original('198.18.100.1'), h2: false };
  const plain = outboundLabels({ headers: {} }, ctx, undefined);
  assert.deepEqual(plain, { direction: 'outbound', authority: '198.18.100.1:80', targetAddr: '198.18.100.1:80', tls: 'no_identity' });
  const meshed = outboundLabels({ headers: { host: 'web' } }, ctx, { ...ep('198.18.0.1'), identity: 'web.shop' }, 'r', 's');
  assert.deepEqual(meshed, { route: 'r', dstService: 's', direction: 'outbound', authority: 'web', targetAddr: '198.18.0.1:80', tls: 'true', serverId: 'web.shop', dst: { pod: '198.18.0.1' } });
});
