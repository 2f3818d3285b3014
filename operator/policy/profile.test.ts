import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Profile, Update } from '../../api/discovery-protocol.ts';
import { parseTarget } from '../discovery/target.ts';
import { resolveWithPolicy } from './attach.ts';
import { compileDstOverrides, compileProfile, isOpaquePort, overrideWeight, parseAuthority, profileOf, profileName } from './profile.ts';
import { evaluateServiceProfile } from './status.ts';
import { cacheWith, policyObject, service, slice, NS } from './test-objects.ts';

test('durations become milliseconds and the retry budget gets its defaults', () => {
  const p = profileOf('books.shop.svc.cluster.local', {
    routes: [
      { name: 'GET /books/{id}', condition: { method: 'GET', pathRegex: '/books/[^/]+' }, isRetryable: true, timeout: '1m30s' },
      { name: 'POST /books', condition: { all: [{ method: 'POST' }, { pathRegex: '/books' }] }, responseClasses: [{ condition: { status: { min: 500 } }, isFailure: true }] },
    ],
  });
  assert.ok(p);
  assert.deepEqual(Profile.parse(p), p, 'the result is a valid wire Profile as it is');
  assert.equal(p.routes[0]?.timeoutMs, 90_000);
  assert.equal(p.routes[0]?.isRetryable, true);
  assert.equal(p.routes[1]?.timeoutMs, undefined);
  assert.equal(p.routes[1]?.isRetryable, false);
  assert.deepEqual(p.routes[1]?.responseClasses, [{ condition: { status: { min: 500 } }, isFailure: true }]);
  assert.deepEqual(p.retryBudget, { retryRatio: 0.2, minRetriesPerSecond: 10, ttlMs: 10_000 });
});

test('a retry budget given is used, ttl in milliseconds', () => {
  const p = compileProfile('x', { retryBudget: { retryRatio: 0.5, minRetriesPerSecond: 3, ttl: '250ms' } });
  assert.deepEqual(p.retryBudget, { retryRatio: 0.5, minRetriesPerSecond: 3, ttlMs: 250 });
  assert.deepEqual(p.routes, []);
});

test('a spec that does not parse yields no profile', () => {
  assert.equal(profileOf('x', { routes: [{ name: 'bad', condition: { pathRegex: '(' } }] }), undefined);
  assert.equal(profileName('books', 'shop', 'cluster.local'), 'books.shop.svc.cluster.local');
});

const cfg = { trustDomain: 'cluster.local', clusterDomain: 'cluster.local' };
const fqdn = (svc: string, port?: number) => `${svc}.${NS}.svc.cluster.local${port === undefined ? '' : `:${port}`}`;

test('authorities: name.namespace.svc.<domain>[:port], a trailing dot allowed; anything else is not a Service', () => {
  assert.deepEqual(parseAuthority('books-v2.shop.svc.cluster.local:8080', 'cluster.local'), { name: 'books-v2', namespace: 'shop', port: 8080 });
  assert.deepEqual(parseAuthority('books.shop.svc.cluster.local.', 'cluster.local'), { name: 'books', namespace: 'shop' });
  for (const bad of ['books.shop.svc.example.org:80', 'books:80', 'a.b.c.svc.cluster.local', 'books.shop.svc.cluster.local:0', 'books.shop.svc.cluster.local:70000']) {
    assert.equal(parseAuthority(bad, 'cluster.local'), undefined, bad);
  }
});

test('weights read as quantities, in thousandths: 1 = 1000, "500m" = 500; not a quantity counts 0', () => {
  assert.deepEqual([overrideWeight(1), overrideWeight('1'), overrideWeight('500m'), overrideWeight('1.5'), overrideWeight('lots')], [1000, 1000, 500, 1500, 0]);
});

test('dstOverrides compile to split backends: the authority\'s port, else the root\'s port mapped; unknown authorities keep their weight with no endpoints', () => {
  const root = service('books', [{ name: 'http', port: 80 }]);
  const c = cacheWith((c) => {
    c.applyService('added', root);
    c.applyService('added', service('books-v2', [{ name: 'http', port: 8000 }], { app: 'v2' }, '10.96.0.3'));
    c.applySlice('added', slice('books-v2', { name: 'http', port: 9090 }, ['10.1.0.2']));
  });
  const split = compileDstOverrides(c, root, 80, [
    { authority: fqdn('books-v2', 8000), weight: '900m' },
    { authority: fqdn('books-v2'), weight: 1 },
    { authority: 'elsewhere.example.org:80', weight: '100m' },
  ], cfg);
  assert.deepEqual(split?.map((b) => [b.service, b.weight, b.endpoints.map((e) => `${e.ip}:${e.port}`)]), [
    [fqdn('books-v2', 8000), 900, ['10.1.0.2:9090']],
    [fqdn('books-v2', 8000), 1000, ['10.1.0.2:9090']],
    ['elsewhere.example.org:80', 100, []],
  ]);
  assert.equal(compileDstOverrides(c, root, 80, [{ authority: fqdn('books-v2'), weight: 0 }], cfg), undefined, 'all weights 0: no override');
  assert.equal(compileDstOverrides(c, root, 80, [], cfg), undefined);
});

test('opaquePorts name single ports and ranges', () => {
  assert.equal(isOpaquePort({ opaquePorts: ['3306', '8000-8010'] }, 8005), true);
  assert.equal(isOpaquePort({ opaquePorts: ['3306'] }, 80), false);
  assert.equal(isOpaquePort({}, 3306), false);
});

test('the Update: dstOverrides split the Service, a TrafficSplit takes precedence over them, opaquePorts make the port opaque', () => {
  const fill = (c: ReturnType<typeof cacheWith>) => {
    c.applyService('added', service('books', [{ name: 'http', port: 80 }, { name: 'db', port: 3306 }]));
    c.applyService('added', service('books-v2', [{ name: 'http', port: 80 }], { app: 'v2' }, '10.96.0.3'));
    c.applyService('added', service('books-v3', [{ name: 'http', port: 80 }], { app: 'v3' }, '10.96.0.4'));
    c.applySlice('added', slice('books', { name: 'db', port: 3306 }, ['10.1.0.1']));
    c.applyServiceProfile('added', policyObject(fqdn('books'), { dstOverrides: [{ authority: fqdn('books-v2', 80), weight: 1 }], opaquePorts: ['3306'] }));
  };
  const c = cacheWith(fill);
  const at = (port: number) => Update.parse(resolveWithPolicy(c, parseTarget(`10.96.0.1:${port}`, 'cluster.local')!, cfg));
  assert.deepEqual(at(80).split?.map((b) => [b.service, b.weight]), [[fqdn('books-v2', 80), 1000]]);
  assert.equal(at(80).splitMatches, undefined, 'dstOverrides split every request');
  assert.equal(at(80).opaque, false);
  assert.equal(at(3306).opaque, true);
  assert.deepEqual(at(3306).endpoints.map((e) => e.protocolHint), ['opaque']);
  c.applyTrafficSplit('added', policyObject('books', { service: 'books', backends: [{ service: 'books-v3', weight: 7 }] }));
  assert.deepEqual(at(80).split?.map((b) => [b.service, b.weight]), [[fqdn('books-v3', 80), 7]], 'the TrafficSplit wins');
});

test('a dstOverrides authority that reaches no Service is ResolvedRefs False, naming it', () => {
  const c = cacheWith((c) => c.applyService('added', service('books', [{ port: 80 }])));
  const e = evaluateServiceProfile(policyObject(fqdn('books'), { dstOverrides: [{ authority: fqdn('gone', 80), weight: 1 }, { authority: 'x.example.org', weight: 1 }] }), c, 'cluster.local');
  assert.equal(e.resolvedRefs.reason, 'BackendNotFound');
  assert.match(e.resolvedRefs.message, /spec\.dstOverrides\[0\]\.authority: Service shop\/gone does not exist; spec\.dstOverrides\[1\]\.authority "x\.example\.org" is not <service>\.<namespace>\.svc\.cluster\.local\[:port\]/);
});
