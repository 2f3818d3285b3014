import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Update } from '../../api/discovery-protocol.ts';
import { DiscoveryHub } from '../hub.ts';
import { parseTarget } from '../discovery/target.ts';
import { compileSplit, parseTrafficSplit, resolveSplitMatches } from './split.ts';
import { evaluateTrafficSplit } from './status.ts';
import { cacheWith, policyObject, service, slice, NS } from './test-objects.ts';

const cfg = { trustDomain: 'cluster.local', clusterDomain: 'cluster.local' };

test('each backend gets its own endpoints on the port that maps to the root port, even when target ports differ', () => {
  const root = service('books', [{ name: 'http', port: 80, targetPort: 'http' }]);
  const c = cacheWith((c) => {
    c.applyService('added', root);
    c.applyService('added', service('books-v1', [{ name: 'http', port: 80, targetPort: 8080 }], { app: 'v1' }, '10.96.0.2'));
    // v2 exposes the root's port under another number but the same name.
    c.applyService('added', service('books-v2', [{ name: 'http', port: 8000, targetPort: 9090 }], { app: 'v2' }, '10.96.0.3'));
    c.applySlice('added', slice('books-v1', { name: 'http', port: 8080 }, ['10.1.0.1']));
    c.applySlice('added', slice('books-v2', { name: 'http', port: 9090 }, ['10.1.0.2', '10.1.0.3']));
    c.applyTrafficSplit('added', policyObject('books', { service: 'books', backends: [{ service: 'books-v1', weight: 90 }, { service: 'books-v2', weight: 10 }] }));
  });
  const split = compileSplit(c, root, 80, cfg);
  assert.equal(split?.splitMatches, undefined, 'no matches: every request is split');
  assert.deepEqual(split?.split.map((b) => [b.service, b.weight, b.endpoints.map((e) => `${e.ip}:${e.port}`)]), [
    [`books-v1.${NS}.svc.cluster.local:80`, 90, ['10.1.0.1:8080']],
    [`books-v2.${NS}.svc.cluster.local:8000`, 10, ['10.1.0.2:9090', '10.1.0.3:9090']],
  ]);
});

test('a missing backend stays in the split with no endpoints; the oldest valid split wins', () => {
  const root = service('books', [{ name: 'http', port: 80 }]);
  const c = cacheWith((c) => {
    c.applyService('added', root);
    c.applyTrafficSplit('added', policyObject('newer', { service: 'books', backends: [{ service: 'x', weight: 1 }] }, '2026-02-01T00:00:00Z'));
    c.applyTrafficSplit('added', policyObject('older', { service: 'books', backends: [{ service: 'gone', weight: 5 }] }, '2026-01-01T00:00:00Z'));
    c.applyTrafficSplit('added', policyObject('oldest-but-invalid', { service: 'books', backends: [{ service: 'y', weight: 0 }] }, '2025-01-01T00:00:00Z'));
  });
  assert.deepEqual(compileSplit(c, root, 80, cfg), { split: [{ service: `gone.${NS}.svc.cluster.local:80`, weight: 5, endpoints: [] }] });
});

test('no split for a Service no TrafficSplit names; all-zero weights are refused with a reason', () => {
  const root = service('books', [{ port: 80 }]);
  assert.equal(compileSplit(cacheWith((c) => c.applyService('added', root)), root, 80, cfg), undefined);
  const zero = parseTrafficSplit(policyObject('z', { service: 'books', backends: [{ service: 'a', weight: 0 }] }));
  assert.equal(zero.ok, false);
  assert.match(zero.ok ? '' : zero.problems.join(), /every weight is 0/);
});

const canarySplit = (matches: object[]) => policyObject('books', {
  service: 'books', matches, backends: [{ service: 'books-v1', weight: 0 }, { service: 'books-v2', weight: 100 }],
});
const group = (name: string, spec: object) => policyObject(name, spec);
const withBooks = (c: ReturnType<typeof cacheWith>) => {
  c.applyService('added', service('books', [{ name: 'http', port: 80 }]));
  c.applyService('added', service('books-v1', [{ name: 'http', port: 80 }], { app: 'v1' }, '10.96.0.2'));
  c.applyService('added', service('books-v2', [{ name: 'http', port: 80 }], { app: 'v2' }, '10.96.0.3'));
};

test('matches: every match of every named HTTPRouteGroup travels with the split, as the proxy reads it', () => {
  const c = cacheWith(withBooks, (c) => {
    c.applyHTTPRouteGroup('added', group('canary', { matches: [{ name: 'insider', headers: { 'X-Canary': 'yes' } }, { name: 'any', methods: ['GET', '*'], pathRegex: '/api/.*' }] }));
    c.applyHTTPRouteGroup('added', group('posts', { matches: [{ name: 'post', methods: ['post'] }] }));
    c.applyTrafficSplit('added', canarySplit([{ kind: 'HTTPRouteGroup', name: 'canary' }, { kind: 'HTTPRouteGroup', name: 'posts', apiGroup: 'specs.smi-spec.io' }]));
  });
  const compiled = compileSplit(c, c.service(NS, 'books')!, 80, cfg);
  assert.deepEqual(compiled?.splitMatches, [{ headers: { 'x-canary': 'yes' } }, { pathRegex: '/api/.*' }, { methods: ['POST'] }]);
  assert.deepEqual(compiled?.split.map((b) => b.weight), [0, 100]);
});

test('matches that do not resolve: no split at all (not every request), ResolvedRefs False with what to fix', () => {
  const cases: [string, (c: ReturnType<typeof cacheWith>) => void, object, RegExp][] = [
    ['RouteGroupNotFound', () => {}, { kind: 'HTTPRouteGroup', name: 'gone' }, /HTTPRouteGroup shop\/gone \(spec\.matches\[0\]\) does not exist; create it/],
    ['NoRouteMatches', (c) => c.applyHTTPRouteGroup('added', group('empty', {})), { kind: 'HTTPRouteGroup', name: 'empty' }, /has no matches/],
    ['InvalidRouteGroup', (c) => c.applyHTTPRouteGroup('added', group('bad', { matches: [{ name: 'a', pathRegex: '(' }] })), { kind: 'HTTPRouteGroup', name: 'bad' }, /is invalid \(spec\.matches\[0\]\.pathRegex/],
    ['UnsupportedMatchKind', () => {}, { kind: 'TCPRoute', name: 'tcp' }, /names a TCPRoute; only specs\.smi-spec\.io HTTPRouteGroup/],
  ];
  for (const [reason, fill, ref, message] of cases) {
    const c = cacheWith(withBooks, fill, (c) => c.applyTrafficSplit('added', canarySplit([ref])));
    assert.equal(compileSplit(c, c.service(NS, 'books')!, 80, cfg), undefined, reason);
    const e = evaluateTrafficSplit(c.trafficSplits(NS, 'books')[0]!, c);
    assert.equal(e.accepted.status, 'True', reason);
    assert.equal(e.resolvedRefs.reason, reason);
    assert.match(e.resolvedRefs.message, message);
    assert.match(e.resolvedRefs.message, /the split does not apply and every request goes to the root Service$/);
  }
  assert.deepEqual(resolveSplitMatches(cacheWith(), NS, []), { ok: true, matches: undefined });
});

test('an HTTPRouteGroup change re-pushes the root Service\'s Update: created, edited, deleted', () => {
  const cache = cacheWith(withBooks);
  const hub = new DiscoveryHub(cache, { trustDomain: 'cluster.local' });
  hub.changed(cache.applyTrafficSplit('added', canarySplit([{ kind: 'HTTPRouteGroup', name: 'canary' }])));
  const seen: Update[] = [];
  hub.watch(parseTarget('10.96.0.1:80', 'cluster.local')!, (u) => seen.push(Update.parse(u)));
  assert.equal(seen.at(-1)?.split, undefined, 'the group is missing: no split');
  const canary = (value: string) => group('canary', { matches: [{ name: 'insider', headers: { 'x-canary': value } }] });
  hub.changed(cache.applyHTTPRouteGroup('added', canary('yes')));
  assert.deepEqual(seen.at(-1)?.splitMatches, [{ headers: { 'x-canary': 'yes' } }]);
  hub.changed(cache.applyHTTPRouteGroup('modified', canary('always')));
  assert.deepEqual(seen.at(-1)?.splitMatches, [{ headers: { 'x-canary': 'always' } }]);
  const resolutions = hub.resolutions;
  hub.changed(cache.applyHTTPRouteGroup('added', group('unrelated', { matches: [{ name: 'x' }] })));
  assert.equal(hub.resolutions, resolutions, 'a group no split names recomputes nothing');
  hub.changed(cache.applyHTTPRouteGroup('deleted', canary('always')));
  assert.equal(seen.at(-1)?.split, undefined);
  assert.equal(seen.at(-1)?.splitMatches, undefined);
});
