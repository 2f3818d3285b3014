import { test } from 'node:test';
import assert from 'node:assert/strict';
import { seeded as seededRandom } from '../../testkit/fuzz/random.ts';
import type { Endpoint } from '../../api/discovery-protocol.ts';
import { p2cPeakEwma } from './balancer.ts';
import { applySplit, compileSplitMatches, drawBackend } from './split.ts';

/** The fuzzers' seeded generator (mulberry32): every run draws the same sequence. */
const seeded = (seed: number): (() => number) => { const r = seededRandom(seed); return () => r.next(); };

const ep = (ip: string): Endpoint => ({ ip, port: 80, protocolHint: 'http', labels: {} });
const balancer = () => p2cPeakEwma<Endpoint>((e) => `${e.ip}:${e.port}`);

test('1000 requests over 90/10 land within a binomial bound (4 sigma)', () => {
  const backends = applySplit([], [
    { service: 'books-v1.shop.svc.cluster.local:80', weight: 90, endpoints: [ep('10.0.0.1')] },
    { service: 'books-v2.shop.svc.cluster.local:80', weight: 10, endpoints: [ep('10.0.0.2')] },
  ], balancer);
  const random = seeded(42);
  let v2 = 0;
  for (let i = 0; i < 1000; i++) if (drawBackend(backends, random) === 1) v2++;
  const sigma = Math.sqrt(1000 * 0.1 * 0.9);
  assert.ok(Math.abs(v2 - 100) <= 4 * sigma, `v2 got ${v2} of 1000`);
});

test('zero weights and backends without endpoints are skipped; none left is -1', () => {
  const backends = applySplit([], [
    { service: 'a', weight: 0, endpoints: [ep('10.0.0.1')] },
    { service: 'b', weight: 50, endpoints: [] },
    { service: 'c', weight: 1, endpoints: [ep('10.0.0.3')] },
  ], balancer);
  const random = seeded(1);
  for (let i = 0; i < 100; i++) assert.equal(drawBackend(backends, random), 2);
  assert.equal(drawBackend(backends.slice(0, 2), random), -1);
});

test('balancers are kept per backend Service across updates', () => {
  const first = applySplit([], [{ service: 'a', weight: 1, endpoints: [ep('10.0.0.1')] }, { service: 'b', weight: 1, endpoints: [ep('10.0.0.2')] }], balancer);
  const second = applySplit(first, [{ service: 'b', weight: 9, endpoints: [ep('10.0.0.2'), ep('10.0.0.4')] }], balancer);
  assert.equal(second[0]!.balancer, first[1]!.balancer);
  assert.equal(second[0]!.balancer.size, 2);
});

test('split matches: method, path (without the query) and header regexes, all anchored; any match will do', () => {
  const splits = compileSplitMatches([
    { headers: { 'x-canary': 'yes' } },
    { methods: ['POST'], pathRegex: '/books/[^/]+' },
  ]);
  const cases: [string, string, Record<string, string | string[]>, boolean][] = [
    ['GET', '/', { 'x-canary': 'yes' }, true],
    ['GET', '/', { 'x-canary': 'yes!' }, false],
    ['GET', '/', { 'x-canary': 'no, yes' }, false],
    ['GET', '/', {}, false],
    ['GET', '/', { 'x-canary': ['yes'] }, true],
    ['POST', '/books/1?q=2', {}, true],
    ['POST', '/books/1/chapters', {}, false],
    ['GET', '/books/1', {}, false],
  ];
  for (const [method, url, headers, want] of cases) assert.equal(splits(method, url, headers), want, `${method} ${url} ${JSON.stringify(headers)}`);
});

test('split matches: absent means every request; an empty match means every request; an absent header never matches, even .*', () => {
  assert.equal(compileSplitMatches(undefined)('DELETE', '/x', {}), true);
  assert.equal(compileSplitMatches([{}])('DELETE', '/x', {}), true);
  assert.equal(compileSplitMatches([])('GET', '/', {}), false);
  const anyAgent = compileSplitMatches([{ headers: { 'user-agent': '.*' } }]);
  assert.equal(anyAgent('GET', '/', {}), false);
  assert.equal(anyAgent('GET', '/', { 'user-agent': '' }), true);
  assert.equal(compileSplitMatches([{ methods: ['get'] }])('GET', '/', {}), true, 'methods compare in upper case');
});
