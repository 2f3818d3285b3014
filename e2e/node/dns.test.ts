import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1Service, V1EndpointSlice } from '@kubernetes/client-node';
import { buildCatalog, resolve, type Resolution } from './dns.ts';

const D = 'cluster.local';

function service(ns: string, name: string, spec: NonNullable<V1Service['spec']>): V1Service {
  return { metadata: { namespace: ns, name }, spec };
}

function slice(ns: string, svc: string, endpoints: NonNullable<V1EndpointSlice['endpoints']>, ports: NonNullable<V1EndpointSlice['ports']> = []): V1EndpointSlice {
  return { metadata: { namespace: ns, name: `${svc}-x`, labels: { 'kubernetes.io/service-name': svc } }, addressType: 'IPv4', endpoints, ports };
}

const catalog = buildCatalog([
  service('shop', 'web', { clusterIP: '198.19.0.10', clusterIPs: ['198.19.0.10'], ports: [{ name: 'http', port: 80, protocol: 'TCP' }, { port: 9000 }] }),
  service('shop', 'db', { clusterIP: 'None', ports: [{ name: 'sql', port: 5432 }] }),
  service('shop', 'empty', { clusterIP: 'None' }),
  service('shop', 'ext', { type: 'ExternalName', externalName: 'example.com' }),
  service('other', 'web', { clusterIP: '198.19.0.20' }),
], [
  slice('shop', 'db', [
    { addresses: ['198.18.1.5'], conditions: { ready: true }, hostname: 'db-0' },
    { addresses: ['198.18.1.6'] },
    { addresses: ['198.18.1.7'], conditions: { ready: false } },
  ], [{ name: 'sql', port: 15432, protocol: 'TCP' }]),
  // The ClusterIP service's endpoints never show in its A answer.
  slice('shop', 'web', [{ addresses: ['198.18.1.9'] }]),
]);

const ask = (name: string, type = 'A'): Resolution => resolve({ name, type }, D, catalog);

function answered(r: Resolution): { rcode: string; data: unknown[] } {
  assert.equal(r.kind, 'answer');
  if (r.kind !== 'answer') throw new Error('unreachable');
  return { rcode: r.rcode, data: r.answers.map((a) => ('data' in a ? a.data : undefined)) };
}

test('a ClusterIP Service answers with its ClusterIP, whatever the case of the name or a trailing dot', () => {
  assert.deepEqual(answered(ask('web.shop.svc.cluster.local')), { rcode: 'NOERROR', data: ['198.19.0.10'] });
  assert.deepEqual(answered(ask('WEB.Shop.svc.cluster.local.')), { rcode: 'NOERROR', data: ['198.19.0.10'] });
  assert.deepEqual(answered(ask('web.other.svc.cluster.local')), { rcode: 'NOERROR', data: ['198.19.0.20'] }, 'the namespace picks the Service');
});

test('answers keep the name as it was asked, so clients match them to their question', () => {
  const r = ask('WEB.Shop.svc.cluster.local.');
  assert.equal(r.kind === 'answer' ? r.answers[0]?.name : '', 'WEB.Shop.svc.cluster.local');
});

test('a headless Service answers with its ready endpoints only; each endpoint has a name of its own', () => {
  assert.deepEqual(answered(ask('db.shop.svc.cluster.local')).data.sort(), ['198.18.1.5', '198.18.1.6']);
  assert.deepEqual(answered(ask('db-0.db.shop.svc.cluster.local')), { rcode: 'NOERROR', data: ['198.18.1.5'] });
  assert.deepEqual(answered(ask('198-18-1-6.db.shop.svc.cluster.local')), { rcode: 'NOERROR', data: ['198.18.1.6'] }, 'without a hostname, the dashed address');
  assert.equal(answered(ask('198-18-1-7.db.shop.svc.cluster.local')).rcode, 'NXDOMAIN', 'a not-ready endpoint has no name');
  assert.equal(answered(ask('db-9.db.shop.svc.cluster.local')).rcode, 'NXDOMAIN');
  assert.equal(answered(ask('198-18-1-9.web.shop.svc.cluster.local')).rcode, 'NXDOMAIN', 'endpoints of a ClusterIP Service have no names');
});

test('publishNotReadyAddresses puts not-ready endpoints in the answer', () => {
  const c = buildCatalog([service('shop', 'db', { clusterIP: 'None', publishNotReadyAddresses: true })],
    [slice('shop', 'db', [{ addresses: ['198.18.1.7'], conditions: { ready: false } }])]);
  assert.deepEqual(answered(resolve({ name: 'db.shop.svc.cluster.local', type: 'A' }, D, c)).data, ['198.18.1.7']);
});

test('a headless Service without ready endpoints exists but has no address (NODATA)', () => {
  const r = ask('empty.shop.svc.cluster.local');
  assert.deepEqual(answered(r), { rcode: 'NOERROR', data: [] });
  assert.equal(r.kind === 'answer' ? r.authorities[0]?.type : '', 'SOA', 'the SOA tells resolvers how long to cache the absence');
});

test('an ExternalName Service is a CNAME to its external name', () => {
  const r = ask('ext.shop.svc.cluster.local');
  assert.deepEqual(answered(r), { rcode: 'NOERROR', data: ['example.com'] });
  assert.equal(r.kind === 'answer' ? r.answers[0]?.type : '', 'CNAME');
});

test('unknown names under the cluster domain are NXDOMAIN; names with names below them are NODATA', () => {
  for (const name of ['nope.shop.svc.cluster.local', 'web.nowhere.svc.cluster.local', 'nowhere.svc.cluster.local', 'a.b.web.shop.svc.cluster.local', 'foo.cluster.local', 'web.shop.cluster.local']) {
    assert.equal(answered(ask(name)).rcode, 'NXDOMAIN', name);
  }
  for (const name of ['shop.svc.cluster.local', 'svc.cluster.local', 'cluster.local', '_tcp.web.shop.svc.cluster.local', 'pod.cluster.local']) {
    assert.deepEqual(answered(ask(name)), { rcode: 'NOERROR', data: [] }, name);
  }
  assert.equal(answered(ask('_udp.web.shop.svc.cluster.local')).rcode, 'NXDOMAIN', 'no named UDP port');
});

test('the cluster is IPv4 only: AAAA for a Service is NODATA, not NXDOMAIN (which would hide its A record)', () => {
  assert.deepEqual(answered(ask('web.shop.svc.cluster.local', 'AAAA')), { rcode: 'NOERROR', data: [] });
});

test('pod names are their dashed address in any namespace; anything else there is NXDOMAIN', () => {
  assert.deepEqual(answered(ask('198-18-1-42.shop.pod.cluster.local')), { rcode: 'NOERROR', data: ['198.18.1.42'] });
  assert.equal(answered(ask('198-18-1-420.shop.pod.cluster.local')).rcode, 'NXDOMAIN');
  assert.equal(answered(ask('198-18-1.shop.pod.cluster.local')).rcode, 'NXDOMAIN');
  assert.equal(answered(ask('x.198-18-1-42.shop.pod.cluster.local')).rcode, 'NXDOMAIN');
});

test('SRV for a named port: the Service name and port for a ClusterIP, each endpoint and its port for a headless one', () => {
  const web = ask('_http._tcp.web.shop.svc.cluster.local', 'SRV');
  assert.deepEqual(answered(web).data, [{ priority: 0, weight: 100, port: 80, target: 'web.shop.svc.cluster.local' }]);
  assert.deepEqual(web.kind === 'answer' ? web.additionals.map((a) => 'data' in a && a.data) : [], ['198.19.0.10'], 'the target\'s address comes along');
  const db = answered(ask('_sql._tcp.db.shop.svc.cluster.local', 'SRV')).data as { port: number; target: string }[];
  assert.deepEqual(db.map((s) => `${s.target}:${s.port}`).sort(), ['198-18-1-6.db.shop.svc.cluster.local:15432', 'db-0.db.shop.svc.cluster.local:15432']);
  assert.equal(answered(ask('_nope._tcp.web.shop.svc.cluster.local', 'SRV')).rcode, 'NXDOMAIN');
  assert.equal(answered(ask('_http._udp.web.shop.svc.cluster.local', 'SRV')).rcode, 'NXDOMAIN', 'the protocol must match');
  assert.deepEqual(answered(ask('_http._tcp.web.shop.svc.cluster.local', 'A')), { rcode: 'NOERROR', data: [] });
});

test('names outside the cluster domain are forwarded, including ones that merely end like it', () => {
  assert.deepEqual(ask('registry.npmjs.org'), { kind: 'forward' });
  assert.deepEqual(ask('notcluster.local'), { kind: 'forward' });
});

test('before the first list nothing is known: SERVFAIL, never a false NXDOMAIN; forwarding still works', () => {
  assert.deepEqual(answered(resolve({ name: 'web.shop.svc.cluster.local', type: 'A' }, D, undefined)), { rcode: 'SERVFAIL', data: [] });
  assert.deepEqual(resolve({ name: 'example.com', type: 'A' }, D, undefined), { kind: 'forward' });
});

test('the SOA of the zone is answered at its apex', () => {
  const r = ask('cluster.local', 'SOA');
  assert.equal(r.kind === 'answer' ? r.answers[0]?.type : '', 'SOA');
});
