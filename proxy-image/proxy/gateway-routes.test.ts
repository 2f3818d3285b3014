import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Endpoint, RouteMatch, RouteTable } from '../../api/discovery-protocol.ts';
import { p2cPeakEwma } from './balancer.ts';
import { compileMatch, compileRouteTable, drawRouteBackend, editHeaders, editedPath, prefixMatches, redirectLocation } from './gateway-routes.ts';

const m = (x: Partial<RouteMatch>): RouteMatch => ({ headers: [], queryParams: [], grpc: false, ...x });
const run = (match: RouteMatch, method: string, url: string, headers: Record<string, string> = {}) => {
  const q = url.indexOf('?');
  return compileMatch(match)(method, q < 0 ? url : url.slice(0, q), q < 0 ? undefined : new URLSearchParams(url.slice(q + 1)), headers);
};

test('PathPrefix matches whole segments; a trailing slash in the prefix changes nothing', () => {
  assert.ok(prefixMatches('/foo', '/foo'));
  assert.ok(prefixMatches('/foo', '/foo/bar'));
  assert.ok(prefixMatches('/foo/', '/foo'));
  assert.ok(!prefixMatches('/foo', '/foobar'));
  assert.ok(prefixMatches('/', '/anything'));
});

test('path Exact, RegularExpression (anchored: the whole path), method, headers (case-insensitive names), query params', () => {
  assert.ok(run(m({ path: { type: 'Exact', value: '/a' } }), 'GET', '/a?x=1'));
  assert.ok(!run(m({ path: { type: 'Exact', value: '/a' } }), 'GET', '/a/'));
  assert.ok(run(m({ path: { type: 'RegularExpression', value: '/v[0-9]+/.*' } }), 'GET', '/v2/x'));
  assert.ok(!run(m({ path: { type: 'RegularExpression', value: '/v[0-9]+' } }), 'GET', '/v2/x'));
  assert.ok(run(m({ method: 'POST' }), 'POST', '/'));
  assert.ok(!run(m({ method: 'POST' }), 'GET', '/'));
  const h = m({ headers: [{ type: 'Exact', name: 'x-env', value: 'canary' }, { type: 'RegularExpression', name: 'user-agent', value: '.*Firefox.*' }] });
  assert.ok(run(h, 'GET', '/', { 'x-env': 'canary', 'user-agent': 'Mozilla Firefox 1' }));
  assert.ok(!run(h, 'GET', '/', { 'x-env': 'canary' }), 'an absent header matches no regex');
  assert.ok(!run(h, 'GET', '/', { 'x-env': 'Canary', 'user-agent': 'Firefox' }), 'values are case-sensitive');
  const q = m({ queryParams: [{ type: 'Exact', name: 'v', value: '2' }] });
  assert.ok(run(q, 'GET', '/p?a=1&v=2'));
  assert.ok(!run(q, 'GET', '/p?V=2'));
  assert.ok(!run(q, 'GET', '/p'));
});

test('a gRPC match needs a gRPC request', () => {
  const g = m({ grpc: true, path: { type: 'Exact', value: '/echo.Echo/Say' } });
  assert.ok(run(g, 'POST', '/echo.Echo/Say', { 'content-type': 'application/grpc+proto' }));
  assert.ok(!run(g, 'POST', '/echo.Echo/Say', { 'content-type': 'application/json' }));
});

test('the table picks the first match in its order and keeps balancers per backend across updates', () => {
  const rule = (name: string, service: string) => ({ route: { kind: 'HTTPRoute' as const, namespace: 'ns', name: 'r' }, rule: name, backends: [{ service, weight: 1 }], filters: [] });
  const t: RouteTable = {
    matches: [{ match: m({ path: { type: 'Exact', value: '/a' } }), rule: 1 }, { match: m({}), rule: 0 }],
    rules: [rule('all', 'a:80'), rule('exact', 'b:80')],
    backends: [{ service: 'a:80', endpoints: [{ ip: '10.0.0.1', port: 80, protocolHint: 'unknown', labels: {} }] }, { service: 'b:80', endpoints: [] }],
  };
  let made = 0;
  const newBalancer = () => { made++; return p2cPeakEwma<Endpoint>((e) => `${e.ip}:${e.port}`); };
  const first = compileRouteTable(t, new Map(), newBalancer);
  assert.equal(first.table.match('GET', '/a', {})?.rule.label, 'exact');
  assert.equal(first.table.match('GET', '/b', {})?.rule.label, 'all');
  assert.equal(first.table.balancer('a:80')?.size, 1);
  const second = compileRouteTable(t, first.balancers, newBalancer);
  assert.equal(made, 2);
  assert.equal(second.table.balancer('a:80'), first.table.balancer('a:80'));
  const none = compileRouteTable({ ...t, matches: [t.matches[0]!] }, new Map(), newBalancer);
  assert.equal(none.table.match('GET', '/b', {}), undefined);
});

test('backends drawn by weight: weight 0 never, an unresolved backend keeps its share, all zero is none', () => {
  const backends = [{ service: 'a', weight: 1 }, { service: 'z', weight: 0 }, { weight: 3 }];
  const counts = new Map<string, number>();
  for (let i = 0; i < 100; i++) {
    const b = drawRouteBackend(backends, () => i / 100);
    counts.set(b?.service ?? 'missing', (counts.get(b?.service ?? 'missing') ?? 0) + 1);
  }
  assert.deepEqual(Object.fromEntries(counts), { a: 25, missing: 75 });
  assert.equal(drawRouteBackend([{ service: 'a', weight: 0 }], () => 0.5), undefined);
});

test('URL rewrites: full path, prefix replaced by the spec examples', () => {
  const prefix = { type: 'PathPrefix' as const, value: '/foo' };
  assert.equal(editedPath('/foo/bar', { type: 'ReplaceFullPath', value: '/x' }, prefix), '/x');
  assert.equal(editedPath('/foo/bar', { type: 'ReplacePrefixMatch', value: '/xyz' }, prefix), '/xyz/bar');
  assert.equal(editedPath('/foo', { type: 'ReplacePrefixMatch', value: '/xyz' }, prefix), '/xyz');
  assert.equal(editedPath('/foo/', { type: 'ReplacePrefixMatch', value: '/xyz' }, prefix), '/xyz/');
  assert.equal(editedPath('/foo/bar', { type: 'ReplacePrefixMatch', value: '/' }, prefix), '/bar');
  assert.equal(editedPath('/foo', { type: 'ReplacePrefixMatch', value: '/' }, prefix), '/');
  assert.equal(editedPath('/foo/bar', { type: 'ReplacePrefixMatch', value: '/xyz/' }, { type: 'PathPrefix', value: '/foo/' }), '/xyz/bar');
});

test('redirect Location: scheme, host, port and path from the filter, the rest from the request', () => {
  const r = (f: object, url = '/a/b?q=1', authority = 'web.shop:8080') => redirectLocation({ type: 'RequestRedirect', statusCode: 302, ...f }, url, authority, { type: 'PathPrefix', value: '/a' });
  assert.equal(r({}), 'http://web.shop:8080/a/b?q=1');
  assert.equal(r({ hostname: 'other' }), 'http://other:8080/a/b?q=1');
  assert.equal(r({ scheme: 'https' }), 'https://web.shop/a/b?q=1');
  assert.equal(r({ port: 80 }), 'http://web.shop/a/b?q=1');
  assert.equal(r({ path: { type: 'ReplacePrefixMatch', value: '/z' } }), 'http://web.shop:8080/z/b?q=1');
});

test('header edits: set replaces, add appends, remove drops', () => {
  const h: Record<string, string | string[] | undefined> = { a: '1', b: '2', c: '3' };
  editHeaders(h, { set: [{ name: 'a', value: 'x' }], add: [{ name: 'b', value: 'y' }, { name: 'd', value: 'z' }], remove: ['c'] });
  assert.deepEqual(h, { a: 'x', b: '2,y', d: 'z' });
});
