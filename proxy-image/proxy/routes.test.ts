import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileProfile, isFailure, matchRoute, pathOf } from './routes.ts';
import type { Profile } from '../../api/discovery-protocol.ts';

const profile: Profile = {
  name: 'books.shop.svc.cluster.local',
  retryBudget: { retryRatio: 0.2, minRetriesPerSecond: 10, ttlMs: 10_000 },
  routes: [
    { name: 'GET /books/{id}', condition: { method: 'GET', pathRegex: '/books/[^/]+' }, responseClasses: [{ condition: { status: { min: 500, max: 500 } }, isFailure: false }], isRetryable: true, timeoutMs: 100 },
    { name: 'POST /books', condition: { all: [{ method: 'POST' }, { pathRegex: '/books' }] }, responseClasses: [{ condition: { status: { min: 404, max: 404 } }, isFailure: true }], isRetryable: false },
    { name: 'not GET /admin', condition: { all: [{ pathRegex: '/admin.*' }, { not: { method: 'GET' } }] }, responseClasses: [], isRetryable: false },
    { name: 'any', condition: { any: [{ pathRegex: '/a' }, { pathRegex: '/b' }] }, responseClasses: [], isRetryable: false },
  ],
};
const compiled = compileProfile(profile);
const name = (method: string, url: string) => matchRoute(compiled, method, url)?.name;

test('the first matching route wins; the regex matches the whole path, the query is ignored', () => {
  assert.equal(name('GET', '/books/42?x=1'), 'GET /books/{id}');
  assert.equal(name('GET', '/books/42/authors'), undefined, 'a prefix is not a match');
  assert.equal(name('PUT', '/books/42'), undefined);
  assert.equal(name('POST', '/books'), 'POST /books');
  assert.equal(name('DELETE', '/admin/x'), 'not GET /admin');
  assert.equal(name('GET', '/admin/x'), undefined);
  assert.equal(name('GET', '/b'), 'any');
  assert.equal(matchRoute(undefined, 'GET', '/books/1'), undefined);
});

test('response classes override the default classification', () => {
  const get = matchRoute(compiled, 'GET', '/books/1');
  const post = matchRoute(compiled, 'POST', '/books');
  assert.equal(isFailure(get, 500, undefined), false, 'the route says 500 is not a failure');
  assert.equal(isFailure(get, 503, undefined), true);
  assert.equal(isFailure(post, 404, undefined), true);
  assert.equal(isFailure(undefined, 404, undefined), false);
  assert.equal(isFailure(undefined, 200, 14), true, 'a non-OK grpc-status fails');
  assert.equal(isFailure(undefined, 200, 0), false);
});

test('pathOf drops the query string', () => {
  assert.equal(pathOf('/a/b?c=d'), '/a/b');
  assert.equal(pathOf('/a'), '/a');
});
