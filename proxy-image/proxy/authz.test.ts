import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { InboundUpdate } from '../../api/discovery-protocol.ts';
import { admitsEverything, authorizeConnection, authorizeRequest, compileInbound, defaultOnly, inNetworks, networks } from './authz.ts';

const WEB = 'web.shop.serviceaccount.identity.skein-system.cluster.local';
const OTHER = 'batch.jobs.serviceaccount.identity.skein-system.cluster.local';
const update = (u: Partial<InboundUpdate>): InboundUpdate => ({ type: 'inbound', defaultPolicy: 'all-unauthenticated', ports: [], probes: [], clusterNetworks: [], ...u });
const mtls = (identity: string) => ({ identity, ip: '10.244.0.5' });
const plain = (ip: string) => ({ identity: undefined, ip });

test('default policies', () => {
  const p = (d: InboundUpdate['defaultPolicy']) => compileInbound(update({ defaultPolicy: d, clusterNetworks: ['10.244.0.0/16', 'fd00::/8'] }));
  assert.equal(authorizeConnection(p('all-unauthenticated'), 80, plain('1.2.3.4')).allowed, true);
  assert.equal(authorizeConnection(p('all-authenticated'), 80, mtls(WEB)).allowed, true);
  assert.deepEqual(authorizeConnection(p('all-authenticated'), 80, plain('10.244.0.9')), { allowed: false, reason: 'unauthenticated', policy: 'default:all-authenticated' });
  assert.equal(authorizeConnection(p('cluster-authenticated'), 80, plain('10.244.3.9')).allowed, true);
  assert.equal(authorizeConnection(p('cluster-authenticated'), 80, plain('::ffff:10.244.3.9')).allowed, true, 'an IPv4-mapped address matches IPv4 networks');
  assert.equal(authorizeConnection(p('cluster-authenticated'), 80, plain('fd00::1')).allowed, true);
  assert.equal(authorizeConnection(p('cluster-authenticated'), 80, plain('192.168.1.1')).allowed, false);
  assert.equal(authorizeConnection(p('deny'), 80, mtls(WEB)).allowed, false);
});

test('a targeted port admits only its authorizations: identities, namespace suffixes, any meshed, networks', () => {
  const p = compileInbound(update({
    defaultPolicy: 'all-unauthenticated',
    ports: [
      { port: 8080, authorizations: [{ policy: 'shop/web-only', identities: [WEB], identitySuffixes: [], anyMeshed: false, unauthenticatedNetworks: ['192.168.0.0/24'] }] },
      { port: 9090, authorizations: [{ policy: 'shop/ns', identities: [], identitySuffixes: ['.jobs.serviceaccount.identity.skein-system.cluster.local'], anyMeshed: false, unauthenticatedNetworks: [] }] },
      { port: 9091, authorizations: [{ policy: 'shop/mesh', identities: [], identitySuffixes: [], anyMeshed: true, unauthenticatedNetworks: [] }] },
    ],
  }));
  assert.equal(authorizeConnection(p, 8080, mtls(WEB)).allowed, true);
  assert.deepEqual(authorizeConnection(p, 8080, mtls(OTHER)), { allowed: false, reason: 'not_authorized', policy: 'shop/web-only' });
  assert.equal(authorizeConnection(p, 8080, plain('192.168.0.7')).allowed, true);
  assert.equal(authorizeConnection(p, 8080, plain('192.168.1.7')).allowed, false);
  assert.equal(authorizeConnection(p, 9090, mtls(OTHER)).allowed, true);
  assert.equal(authorizeConnection(p, 9090, mtls(WEB)).allowed, false);
  assert.equal(authorizeConnection(p, 9091, mtls(WEB)).allowed, true);
  assert.equal(authorizeConnection(p, 9091, plain('192.168.0.7')).allowed, false);
  assert.equal(authorizeConnection(p, 7000, plain('8.8.8.8')).allowed, true, 'other ports follow the default');
});

test('probes pass under deny: GET or HEAD on the probe path of that port only', () => {
  const p = compileInbound(update({ defaultPolicy: 'deny', probes: [{ port: 8080, path: '/healthz' }] }));
  assert.equal(authorizeRequest(p, 8080, plain('10.0.0.1'), 'GET', '/healthz?verbose').allowed, true);
  assert.equal(authorizeRequest(p, 8080, plain('10.0.0.1'), 'POST', '/healthz').allowed, false);
  assert.equal(authorizeRequest(p, 8080, plain('10.0.0.1'), 'GET', '/other').allowed, false);
  assert.equal(authorizeRequest(p, 9090, plain('10.0.0.1'), 'GET', '/healthz').allowed, false);
});

test('before discovery answers, the environment default applies; all-unauthenticated without rules is skipped', () => {
  assert.equal(authorizeConnection(defaultOnly('all-authenticated'), 80, plain('10.0.0.1')).allowed, false);
  assert.equal(admitsEverything(defaultOnly('all-unauthenticated')), true);
  assert.equal(admitsEverything(defaultOnly('deny')), false);
});

test('CIDR matching, v4 and v6, bad entries skipped', () => {
  const list = networks(['10.0.0.0/8', '2001:db8::/32', 'not-a-cidr', '1.2.3.4']);
  assert.equal(inNetworks(list, '10.1.2.3'), true);
  assert.equal(inNetworks(list, '11.1.2.3'), false);
  assert.equal(inNetworks(list, '2001:db8::1'), true);
  assert.equal(inNetworks(list, '2001:db9::1'), false);
  assert.equal(inNetworks(list, '1.2.3.4'), true);
  assert.equal(inNetworks(undefined, '1.2.3.4'), false);
});

test('before discovery answers, the probes the injector saw pass under deny; discovery\'s probes add to them', () => {
  const own = [{ port: 8080, path: '/ready' }, { port: 8080, path: '/live' }];
  const early = defaultOnly('deny', own);
  assert.equal(authorizeRequest(early, 8080, plain('10.0.0.1'), 'GET', '/ready').allowed, true);
  assert.equal(authorizeRequest(early, 8080, plain('10.0.0.1'), 'GET', '/live?verbose=1').allowed, true);
  assert.equal(authorizeRequest(early, 8080, plain('10.0.0.1'), 'GET', '/').allowed, false, 'other paths still follow deny');
  assert.equal(authorizeRequest(early, 9090, plain('10.0.0.1'), 'GET', '/ready').allowed, false, 'only on the probe\'s port');
  assert.equal(authorizeRequest(early, 8080, plain('10.0.0.1'), 'POST', '/ready').allowed, false);
  assert.equal(authorizeRequest(defaultOnly('deny'), 8080, plain('10.0.0.1'), 'GET', '/ready').allowed, false, 'without the list nothing passes');

  const later = compileInbound(update({ defaultPolicy: 'deny', probes: [{ port: 9090, path: '/metrics-health' }] }), own);
  assert.equal(authorizeRequest(later, 8080, plain('10.0.0.1'), 'GET', '/ready').allowed, true);
  assert.equal(authorizeRequest(later, 9090, plain('10.0.0.1'), 'GET', '/metrics-health').allowed, true);
});
