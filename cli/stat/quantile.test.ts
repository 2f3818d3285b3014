import { test } from 'node:test';
import assert from 'node:assert/strict';
import { counterDelta, histogramQuantile, ratePerSecond, successRate } from './quantile.ts';

test('counter deltas: growth, and a restart (smaller value) counts from zero like rate()', () => {
  assert.equal(counterDelta(10, 25), 15);
  assert.equal(counterDelta(undefined, 7), 7);
  assert.equal(counterDelta(40, 3), 3);
  assert.equal(ratePerSecond(30, 10), 3);
  assert.equal(ratePerSecond(30, 0), 0);
});

test('success rate is undefined without responses, else successes over all', () => {
  assert.equal(successRate(0, 0), undefined);
  assert.equal(successRate(3, 1), 0.75);
  assert.equal(successRate(5, 0), 1);
});

test('histogram quantile interpolates inside the bucket as Prometheus does', () => {
  // 10 observations <= 1, 10 more in (1, 2], 0 above: 20 total.
  const b = [{ le: 1, count: 10 }, { le: 2, count: 20 }, { le: 5, count: 20 }, { le: Infinity, count: 20 }];
  // Rank 10 is the top of the first bucket: 0 + 1 * 10/10.
  assert.equal(histogramQuantile(0.5, b), 1);
  // Rank 15: half way into (1, 2].
  assert.equal(histogramQuantile(0.75, b), 1.5);
  // Rank 19.8: 9.8 of the 10 in (1, 2].
  assert.ok(Math.abs(histogramQuantile(0.99, b)! - 1.98) < 1e-9);
  // The first bucket starts at 0: rank 5 of 10 in [0, 1].
  assert.equal(histogramQuantile(0.25, b), 0.5);
  // Order of the input does not matter.
  assert.equal(histogramQuantile(0.75, [...b].reverse()), 1.5);
});

test('histogram quantile: empty is undefined; a rank in +Inf answers the highest finite bound', () => {
  assert.equal(histogramQuantile(0.5, []), undefined);
  assert.equal(histogramQuantile(0.5, [{ le: 1, count: 0 }, { le: Infinity, count: 0 }]), undefined);
  assert.equal(histogramQuantile(0.99, [{ le: 1, count: 1 }, { le: 10, count: 1 }, { le: Infinity, count: 100 }]), 10);
});
