import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InboundUpdate } from '../../api/discovery-protocol.ts';
import { compileInbound, selectorMatches, DEFAULT_CLUSTER_NETWORKS } from './inbound.ts';
import { cacheWith, policyObject, pod, service, NS } from './test-objects.ts';

const cfg = { trustDomain: 'cluster.local', defaultInboundPolicy: 'all-unauthenticated' as const, clusterNetworks: DEFAULT_CLUSTER_NETWORKS };
const suffix = `.serviceaccount.identity.skein-system.cluster.local`;

test('a Service-targeted policy lands on the pod port the Service port maps to, with identities resolved', () => {
  const p = pod('books-1', { app: 'books' });
  const c = cacheWith((c) => {
    c.applyPod('added', p);
    c.applyService('added', service('books', [{ name: 'web', port: 80, targetPort: 'http' }]));
    c.applyAuthorizationPolicy('added', policyObject('allow-web', {
      target: { service: 'books', port: 'web' },
      allow: { serviceAccounts: [{ name: 'web' }, { name: 'ops', namespace: 'tools' }], namespaces: ['admin'], identities: ['*.batch.example', 'spiffe://cluster.local/ns/x/sa/y'] },
    }));
    c.applyAuthorizationPolicy('added', policyObject('mesh-admin', { target: { podSelector: { matchLabels: { app: 'books' } }, port: 'admin' }, allow: { identities: ['*'], unauthenticated: { networks: ['10.0.0.0/8'] } } }));
    c.applyAuthorizationPolicy('added', policyObject('other-pods', { target: { podSelector: { matchLabels: { app: 'authors' } }, port: 8080 }, allow: { meshTLS: true } }));
    c.applyAuthorizationPolicy('added', policyObject('invalid', { target: { service: 'books', port: 80 }, allow: {} }));
  });
  const u = compileInbound(c, p, cfg);
  assert.deepEqual(InboundUpdate.parse(u), u, 'a valid wire message as it is');
  assert.deepEqual(u.ports, [
    { port: 8080, authorizations: [{
      policy: `${NS}/allow-web`,
      identities: [`ops.tools${suffix}`, 'spiffe://cluster.local/ns/x/sa/y', `web.${NS}${suffix}`],
      identitySuffixes: [`.admin${suffix}`, '.batch.example'], anyMeshed: false, unauthenticatedNetworks: [],
    }] },
    { port: 9000, authorizations: [{ policy: `${NS}/mesh-admin`, identities: [], identitySuffixes: [], anyMeshed: true, unauthenticatedNetworks: ['10.0.0.0/8'] }] },
  ]);
  assert.deepEqual(u.clusterNetworks, DEFAULT_CLUSTER_NETWORKS);
});

test('a Service whose selector does not pick the pod, or that lacks the port, targets nothing', () => {
  const p = pod('books-1', { app: 'books' });
  const c = cacheWith((c) => {
    c.applyPod('added', p);
    c.applyService('added', service('authors', [{ port: 80 }], { app: 'authors' }));
    c.applyService('added', service('books', [{ port: 80 }]));
    c.applyAuthorizationPolicy('added', policyObject('a', { target: { service: 'authors', port: 80 }, allow: { meshTLS: true } }));
    c.applyAuthorizationPolicy('added', policyObject('b', { target: { service: 'books', port: 81 }, allow: { meshTLS: true } }));
    c.applyAuthorizationPolicy('added', policyObject('c', { target: { service: 'missing', port: 80 }, allow: { meshTLS: true } }));
  });
  assert.deepEqual(compileInbound(c, p, cfg).ports, []);
});

test('the default policy: pod annotation, else namespace annotation, else the cluster default; unknown values ignored', () => {
  const ann = 'config.skein.dev/default-inbound-policy';
  const withNs = (v: string) => (c: ReturnType<typeof cacheWith>) => { c.applyNamespace('added', { metadata: { name: NS, annotations: { [ann]: v } } }); };
  const plain = pod('p', {});
  const annotated = { ...plain, metadata: { ...plain.metadata, annotations: { [ann]: 'deny' } } };
  assert.equal(compileInbound(cacheWith(), plain, cfg).defaultPolicy, 'all-unauthenticated');
  assert.equal(compileInbound(cacheWith(withNs('all-authenticated')), plain, cfg).defaultPolicy, 'all-authenticated');
  assert.equal(compileInbound(cacheWith(withNs('all-authenticated')), annotated, cfg).defaultPolicy, 'deny');
  assert.equal(compileInbound(cacheWith(withNs('bogus')), plain, { ...cfg, defaultInboundPolicy: 'cluster-authenticated' }).defaultPolicy, 'cluster-authenticated');
});

test('HTTP GET probes are listed with their port resolved, from app containers only', () => {
  const p = pod('p', {}, {
    containers: [
      { name: 'app', ports: [{ name: 'http', containerPort: 8080 }], livenessProbe: { httpGet: { path: '/live', port: 'http' } }, readinessProbe: { httpGet: { path: '/ready', port: 8081 } }, startupProbe: { tcpSocket: { port: 8080 } } },
      { name: 'skein-proxy', readinessProbe: { httpGet: { path: '/ready', port: 4191 } } },
    ],
  });
  assert.deepEqual(compileInbound(cacheWith(), p, cfg).probes, [{ port: 8080, path: '/live' }, { port: 8081, path: '/ready' }]);
});

test('label selectors: matchLabels and every expression operator', () => {
  const labels = { app: 'books', tier: 'web' };
  assert.equal(selectorMatches({}, labels), true, '{} selects every pod');
  assert.equal(selectorMatches({ matchLabels: { app: 'books' } }, labels), true);
  assert.equal(selectorMatches({ matchLabels: { app: 'authors' } }, labels), false);
  assert.equal(selectorMatches({ matchExpressions: [{ key: 'tier', operator: 'In', values: ['web', 'api'] }] }, labels), true);
  assert.equal(selectorMatches({ matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['web'] }] }, labels), false);
  assert.equal(selectorMatches({ matchExpressions: [{ key: 'x', operator: 'DoesNotExist' }] }, labels), true);
  assert.equal(selectorMatches({ matchExpressions: [{ key: 'x', operator: 'Exists' }] }, labels), false);
});
