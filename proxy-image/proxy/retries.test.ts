import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_ATTEMPTS, RetryBudget, mayRetry, peerNotSent, replayableBody } from './retries.ts';

test('the budget allows minRetriesPerSecond × ttl plus retryRatio of the requests, over the ttl window', () => {
  let now = 0;
  const b = new RetryBudget({ retryRatio: 0.2, minRetriesPerSecond: 1, ttlMs: 10_000 }, () => now);
  for (let i = 0; i < 100; i++) b.deposit();
  let allowed = 0;
  for (let i = 0; i < 100; i++) if (b.withdraw()) allowed++;
  assert.equal(allowed, 10 + 20);
  assert.equal(b.withdraw(), false);
  now = 11_000;
  assert.equal(b.withdraw(), true, 'after the ttl the spent retries are forgotten');
});

test('with no requests only the minimum is allowed; a zero budget refuses', () => {
  const b = new RetryBudget({ retryRatio: 0.5, minRetriesPerSecond: 0, ttlMs: 1_000 }, () => 0);
  assert.equal(b.withdraw(), false);
  b.deposit();
  b.deposit();
  assert.equal(b.withdraw(), true);
  assert.equal(b.withdraw(), false);
});

test('bodies: none, small declared ones buffered, unknown or large ones not', () => {
  assert.equal(replayableBody({}, false), 'none');
  assert.equal(replayableBody({ 'content-length': '10' }, true), 'buffer');
  assert.equal(replayableBody({ 'content-length': String(64 * 1024 + 1) }, true), false);
  assert.equal(replayableBody({ 'transfer-encoding': 'chunked' }, true), false);
  assert.equal(replayableBody({}, true), false);
});

test('a request the app never saw is retried once on any route; failures only on retryable routes', () => {
  assert.equal(mayRetry('not-sent', 1, false), true);
  assert.equal(mayRetry('not-sent', 2, false), false);
  assert.equal(mayRetry('failed', 1, false), false);
  assert.equal(mayRetry('failed', 1, true), true);
  assert.equal(mayRetry('failed', MAX_ATTEMPTS, true), false);
  assert.equal(peerNotSent('connect-failed'), true);
  assert.equal(peerNotSent('response-timeout'), false);
  assert.equal(peerNotSent(undefined), false);
});
