import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Profile } from '../../shared/discovery-protocol.ts';
import { compileProfile, profileOf, profileName } from './profile.ts';

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
