import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_ATTEMPTS, MAX_UNSENT_ATTEMPTS, RequestRetries, RetryBudget, mayRetry, peerNotSent, replayableBody } from './retries.ts';
import { compileRoute } from './routes.ts';

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

test('a request the app never saw is retried on any route up to MAX_UNSENT_ATTEMPTS; failures only on retryable routes', () => {
  assert.equal(mayRetry('not-sent', 1, false), true);
  assert.equal(mayRetry('not-sent', MAX_ATTEMPTS, false), true, 'several endpoints can refuse at once (a scale-down)');
  assert.equal(mayRetry('not-sent', MAX_UNSENT_ATTEMPTS, false), false);
  assert.equal(mayRetry('failed', 1, false), false);
  assert.equal(mayRetry('failed', 1, true), true);
  assert.equal(mayRetry('failed', MAX_ATTEMPTS, true), false);
  assert.equal(peerNotSent('connect_failed'), true);
  assert.equal(peerNotSent('response_timeout'), false);
  assert.equal(peerNotSent(undefined), false);
});

test('a request\'s retries: success passes, a peer\'s not-sent 502 is retried up to MAX_UNSENT_ATTEMPTS, failures only on a retryable route, the budget is counted', () => {
  const budget = (allow: boolean) => ({ withdrawals: 0, withdraw() { this.withdrawals++; return allow; } });
  const open = budget(true);
  const plain = new RequestRetries(open, undefined, true);
  assert.equal(plain.shouldRetry(200, {}, undefined), false);
  assert.equal(plain.shouldRetry(500, {}, undefined), false, 'not retryable: the app saw it');
  assert.equal(open.withdrawals, 0, 'nothing is drawn for an answer that goes through');
  assert.equal(plain.shouldRetry(502, { 'skein-proxy-error': 'connect_failed' }, undefined), true);
  assert.equal(plain.cause, 'not-sent');
  plain.next();
  assert.equal(plain.cause, undefined);
  for (let attempt = 2; attempt < MAX_UNSENT_ATTEMPTS; attempt++) {
    assert.equal(plain.unsent(), true, `not-sent retry at attempt ${attempt}: still nothing processed`);
    plain.next();
  }
  assert.equal(plain.unsent(), false, 'never past MAX_UNSENT_ATTEMPTS');

  const route = compileRoute({ name: 'GET /x', condition: { method: 'GET' }, responseClasses: [{ condition: { status: { min: 404, max: 404 } }, isFailure: true }], isRetryable: true });
  const retryable = new RequestRetries(budget(true), route, true);
  assert.equal(retryable.shouldRetry(404, {}, undefined), true, 'the route\'s classes say 404 failed');
  assert.equal(retryable.cause, 'failed');
  assert.equal(new RequestRetries(budget(true), route, false).shouldRetry(404, {}, undefined), false, 'a body that cannot be replayed is not');

  const spent = new RequestRetries(budget(false), route, true);
  assert.equal(spent.shouldRetry(404, {}, undefined), false);
  assert.equal(spent.budgetExhausted, true);
  assert.equal(spent.unsent(), false);
});
