import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RouteTable } from '../../api/discovery-protocol.ts';
import { ClusterCache } from '../discovery/cache.ts';
import { NS, service, slice } from '../policy/test-objects.ts';
import { compileRoutes } from './compile.ts';
import { resolveWithPolicy } from '../policy/attach.ts';
import { addRoute, backend, route, svcParent } from './test-routes.ts';
import { isUsableRoute } from './validate.ts';

const cfg = { trustDomain: 'cluster.local', clusterDomain: 'cluster.local' };

function cluster(): ClusterCache {
  const c = new ClusterCache(isUsableRoute);
  c.applyService('added', service('web', [{ name: 'http', port: 80 }], { app: 'web' }, '10.96.0.10'));
  c.applyService('added', service('web-v2', [{ name: 'http', port: 80 }], { app: 'web-v2' }, '10.96.0.11'));
  c.applySlice('added', slice('web', { name: 'http', port: 8080 }, ['10.1.0.1']));
  c.applySlice('added', { ...slice('web-v2', { name: 'http', port: 8080 }, ['10.1.0.2']), metadata: { name: 'web-v2-x', namespace: NS, labels: { 'kubernetes.io/service-name': 'web-v2' } } });
  return c;
}

const table = (c: ClusterCache, port = 80, clientNs?: string): RouteTable | undefined => compileRoutes(c, c.service(NS, 'web')!, port, clientNs, cfg);
/** The rules in the order a request meets their matches: `route/rule`. */
const order = (t: RouteTable | undefined) => t?.matches.map((m) => `${t.rules[m.rule]!.route.name}/${t.rules[m.rule]!.rule}`);

test('no route attached: no table, the Service routes as before', () => {
  assert.equal(table(cluster()), undefined);
});

test('a producer route on the Service: its backends with their endpoints, weights as written, weight 0 kept', () => {
  const c = cluster();
  addRoute(c, 'HTTPRoute', route('canary', { parentRefs: [svcParent('web')], rules: [{ backendRefs: [backend('web', 80, 90), backend('web-v2', 80, 10), backend('web-v2', 80, 0)] }] }));
  const t = table(c)!;
  assert.deepEqual(t.rules[0]!.backends, [
    { service: 'web.shop.svc.cluster.local:80', weight: 90 },
    { service: 'web-v2.shop.svc.cluster.local:80', weight: 10 },
    { service: 'web-v2.shop.svc.cluster.local:80', weight: 0 },
  ]);
  assert.deepEqual(t.backends.map((b) => [b.service, b.endpoints.map((e) => `${e.ip}:${e.port}`)]), [
    ['web.shop.svc.cluster.local:80', ['10.1.0.1:8080']],
    ['web-v2.shop.svc.cluster.local:80', ['10.1.0.2:8080']],
  ]);
  assert.deepEqual(t.matches[0]!.match, { path: { type: 'PathPrefix', value: '/' }, headers: [], queryParams: [], grpc: false });
});

test('a backendRef naming no Service, another namespace or a missing port keeps its share with no Service (the proxy answers it 500)', () => {
  const c = cluster();
  addRoute(c, 'HTTPRoute', route('r', { parentRefs: [svcParent('web')], rules: [{ backendRefs: [backend('web', 80, 1), backend('nothing', 80, 1), { name: 'web-v2', namespace: 'other', port: 80, weight: 1 }, backend('web-v2', 81, 1)] }] }));
  assert.deepEqual(table(c)!.rules[0]!.backends, [{ service: 'web.shop.svc.cluster.local:80', weight: 1 }, { weight: 1 }, { weight: 1 }, { weight: 1 }]);
});

test('a rule without backendRefs goes to the parent Service', () => {
  const c = cluster();
  addRoute(c, 'HTTPRoute', route('r', { parentRefs: [svcParent('web')], rules: [{ filters: [{ type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'X-A', value: '1' }] } }] }] }));
  const rule = table(c)!.rules[0]!;
  assert.deepEqual(rule.backends, [{ service: 'web.shop.svc.cluster.local:80', weight: 1 }]);
  assert.deepEqual(rule.filters, [{ type: 'RequestHeaderModifier', edit: { set: [{ name: 'x-a', value: '1' }], add: [], remove: [] } }]);
});

test('parentRef port: a route naming port 81 does not attach to calls on port 80; naming another Service or a Gateway never does', () => {
  const c = cluster();
  addRoute(c, 'HTTPRoute', route('p81', { parentRefs: [svcParent('web', { port: 81 })], rules: [{}] }));
  addRoute(c, 'HTTPRoute', route('gw', { parentRefs: [{ name: 'web' }], rules: [{}] }));
  addRoute(c, 'HTTPRoute', route('other', { parentRefs: [svcParent('web-v2')], rules: [{}] }));
  assert.equal(table(c), undefined);
  assert.deepEqual(order(table(c, 81)), ['p81/0']);
});

test('consumer routes: only for clients of their namespace, and then instead of the producer routes', () => {
  const c = cluster();
  addRoute(c, 'HTTPRoute', route('producer', { parentRefs: [svcParent('web')], rules: [{}] }));
  addRoute(c, 'HTTPRoute', route('consumer', { parentRefs: [svcParent('web', { namespace: NS })], rules: [{}] }, { namespace: 'client' }));
  assert.deepEqual(order(table(c, 80, 'client')), ['consumer/0']);
  assert.deepEqual(order(table(c, 80, 'elsewhere')), ['producer/0']);
  assert.deepEqual(order(table(c, 80, NS)), ['producer/0']);
  assert.deepEqual(order(table(c, 80)), ['producer/0']);
});

test('precedence across rules and routes: Exact, regex, longest prefix, method, most headers, most query params', () => {
  const c = cluster();
  const rule = (name: string, match: object) => ({ name, matches: [match] });
  addRoute(c, 'HTTPRoute', route('a', {
    parentRefs: [svcParent('web')],
    rules: [
      rule('prefix-root', { path: { type: 'PathPrefix', value: '/' } }),
      rule('prefix-foo', { path: { type: 'PathPrefix', value: '/foo' } }),
      rule('prefix-foo-bar', { path: { type: 'PathPrefix', value: '/foo/bar/' } }),
      rule('prefix-foo-get', { path: { type: 'PathPrefix', value: '/foo' }, method: 'GET' }),
      rule('prefix-foo-1h', { path: { type: 'PathPrefix', value: '/foo' }, headers: [{ name: 'a', value: '1' }] }),
    ],
  }));
  addRoute(c, 'HTTPRoute', route('b', {
    parentRefs: [svcParent('web')],
    rules: [
      rule('prefix-foo-2h', { path: { type: 'PathPrefix', value: '/foo' }, headers: [{ name: 'a', value: '1' }, { name: 'b', value: '2' }] }),
      rule('prefix-foo-1h-1q', { path: { type: 'PathPrefix', value: '/foo' }, headers: [{ name: 'a', value: '1' }], queryParams: [{ name: 'q', value: '1' }] }),
      rule('exact', { path: { type: 'Exact', value: '/foo' } }),
      rule('regex', { path: { type: 'RegularExpression', value: '/f.*' } }),
    ],
  }));
  assert.deepEqual(order(table(c)), [
    'b/exact', 'b/regex', 'a/prefix-foo-bar', 'a/prefix-foo-get', 'b/prefix-foo-2h', 'b/prefix-foo-1h-1q', 'a/prefix-foo-1h', 'a/prefix-foo', 'a/prefix-root',
  ]);
});

test('ties: the oldest route, then namespace/name, then the rule order within a route', () => {
  const c = cluster();
  const same = { parentRefs: [svcParent('web')], rules: [{ name: 'first', matches: [{ path: { type: 'PathPrefix', value: '/x' } }] }, { name: 'second', matches: [{ path: { type: 'PathPrefix', value: '/x' } }] }] };
  addRoute(c, 'HTTPRoute', route('newer', same, { created: '2026-02-01T00:00:00Z' }));
  addRoute(c, 'HTTPRoute', route('older-b', same, { created: '2026-01-01T00:00:00Z' }));
  addRoute(c, 'HTTPRoute', route('older-a', same, { created: '2026-01-01T00:00:00Z' }));
  assert.deepEqual(order(table(c)), ['older-a/first', 'older-a/second', 'older-b/first', 'older-b/second', 'newer/first', 'newer/second']);
});

test('a rule with several matches: each ranks on its own', () => {
  const c = cluster();
  addRoute(c, 'HTTPRoute', route('r', { parentRefs: [svcParent('web')], rules: [
    { name: 'one', matches: [{ path: { type: 'PathPrefix', value: '/' } }, { path: { type: 'Exact', value: '/login' } }] },
    { name: 'two', matches: [{ path: { type: 'PathPrefix', value: '/api' } }] },
  ] }));
  assert.deepEqual(order(table(c)), ['r/one', 'r/two', 'r/one']);
});

test('GRPCRoute: service/method become paths, the longest service then method first, before any HTTP match', () => {
  const c = cluster();
  addRoute(c, 'HTTPRoute', route('http', { parentRefs: [svcParent('web')], rules: [{ name: 'all' }] }));
  addRoute(c, 'GRPCRoute', route('grpc', { parentRefs: [svcParent('web')], rules: [
    { name: 'any' },
    { name: 'svc', matches: [{ method: { service: 'echo.Echo' } }] },
    { name: 'both', matches: [{ method: { service: 'echo.Echo', method: 'Say' } }] },
    { name: 'method', matches: [{ method: { method: 'Say' } }] },
    { name: 're', matches: [{ method: { type: 'RegularExpression', service: 'echo\\..*', method: 'S.*' } }] },
  ] }));
  const t = table(c)!;
  assert.deepEqual(order(t), ['grpc/both', 'grpc/svc', 'grpc/re', 'grpc/method', 'grpc/any', 'http/all']);
  const paths = Object.fromEntries(t.matches.map((m) => [t.rules[m.rule]!.rule, m.match.path]));
  assert.deepEqual(paths, {
    svc: { type: 'PathPrefix', value: '/echo.Echo' },
    both: { type: 'Exact', value: '/echo.Echo/Say' },
    re: { type: 'RegularExpression', value: '/(?:echo\\..*)/(?:S.*)' },
    method: { type: 'RegularExpression', value: '/[^/]+/Say' },
    any: undefined,
    all: { type: 'PathPrefix', value: '/' },
  });
  assert.ok(t.matches.slice(0, 5).every((m) => m.match.grpc));
});

test('timeouts, retry and a mirror to an existing and a missing Service compile to milliseconds and Service keys', () => {
  const c = cluster();
  addRoute(c, 'HTTPRoute', route('r', { parentRefs: [svcParent('web')], rules: [{
    timeouts: { request: '2s', backendRequest: '500ms' },
    retry: { codes: [503], attempts: 2, backoff: '100ms' },
    filters: [
      { type: 'RequestMirror', requestMirror: { backendRef: { name: 'web-v2', port: 80 }, percent: 50 } },
      { type: 'RequestMirror', requestMirror: { backendRef: { name: 'gone', port: 80 }, fraction: { numerator: 1, denominator: 4 } } },
    ],
  }] }));
  const rule = table(c)!.rules[0]!;
  assert.equal(rule.requestTimeoutMs, 2000);
  assert.equal(rule.backendTimeoutMs, 500);
  assert.deepEqual(rule.retry, { codes: [503], attempts: 2, backoffMs: 100 });
  assert.deepEqual(rule.filters, [{ type: 'RequestMirror', service: 'web-v2.shop.svc.cluster.local:80', percent: 50 }, { type: 'RequestMirror', percent: 25 }]);
  assert.ok(table(c)!.backends.some((b) => b.service === 'web-v2.shop.svc.cluster.local:80'));
});

test('an invalid edit keeps the last good version routing; an invalid new route is not used', () => {
  const c = cluster();
  const good = route('r', { parentRefs: [svcParent('web')], rules: [{ name: 'good', matches: [{ path: { type: 'RegularExpression', value: '/api/[a-z]+' } }] }] });
  addRoute(c, 'HTTPRoute', good);
  const bad = route('r', { parentRefs: [svcParent('web')], rules: [{ name: 'bad', matches: [{ path: { type: 'RegularExpression', value: '/(a+)+' } }] }] }, { generation: 2 });
  assert.deepEqual(c.applyGatewayRoute('HTTPRoute', 'modified', bad), []);
  assert.deepEqual(order(table(c)), ['r/good']);
  addRoute(c, 'HTTPRoute', route('fresh-bad', { parentRefs: [svcParent('web')], rules: [{ matches: [{ headers: [{ type: 'RegularExpression', name: 'x', value: '(' }] }] }] }));
  assert.deepEqual(order(table(c)), ['r/good']);
  c.applyGatewayRoute('HTTPRoute', 'deleted', good);
  assert.equal(table(c), undefined);
});

test('an HTTPRoute on the Service wins over its ServiceProfile routes and its TrafficSplit; the profile budget stays', () => {
  const c = cluster();
  c.applyServiceProfile('added', { metadata: { name: 'web.shop.svc.cluster.local', namespace: NS }, spec: { routes: [{ name: 'GET /', condition: { method: 'GET', pathRegex: '/' } }], retryBudget: { retryRatio: 0.5, minRetriesPerSecond: 3, ttl: '5s' } } });
  c.applyTrafficSplit('added', { metadata: { name: 'split', namespace: NS, creationTimestamp: '2026-01-01T00:00:00Z' as unknown as Date }, spec: { service: 'web', backends: [{ service: 'web-v2', weight: 1 }] } });
  const target = { kind: 'name' as const, namespace: NS, name: 'web', port: 80 };
  const before = resolveWithPolicy(c, target, cfg);
  assert.equal(before.profile?.routes.length, 1);
  assert.equal(before.split?.length, 1);
  assert.equal(before.routes, undefined);
  addRoute(c, 'HTTPRoute', route('r', { parentRefs: [svcParent('web')], rules: [{}] }));
  const after = resolveWithPolicy(c, target, cfg);
  assert.deepEqual(after.profile?.routes, []);
  assert.deepEqual(after.profile?.retryBudget, { retryRatio: 0.5, minRetriesPerSecond: 3, ttlMs: 5000 });
  assert.equal(after.split, undefined);
  assert.equal(after.routes?.rules.length, 1);
});
