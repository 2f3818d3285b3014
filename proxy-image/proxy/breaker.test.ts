import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_BREAKER, admits, closedBreaker, penaltyMs, record, sent } from './breaker.ts';

const noJitter = () => 0;

test('seven consecutive failures eject; a success in between resets the count', () => {
  const s = closedBreaker();
  for (let i = 0; i < 6; i++) assert.equal(record(s, false, 0, true, DEFAULT_BREAKER, noJitter), false);
  record(s, true, 0, true, DEFAULT_BREAKER, noJitter);
  for (let i = 0; i < 6; i++) record(s, false, 0, true, DEFAULT_BREAKER, noJitter);
  assert.equal(admits(s, 0), true);
  assert.equal(record(s, false, 0, true, DEFAULT_BREAKER, noJitter), true);
  assert.equal(admits(s, 999), false);
  assert.equal(admits(s, 1_000), true, 'after the 1 s penalty one probe may go');
});

test('half-open: one probe at a time; its failure doubles the penalty, its success closes', () => {
  const s = closedBreaker();
  for (let i = 0; i < 7; i++) record(s, false, 0, true, DEFAULT_BREAKER, noJitter);
  sent(s, 1_000);
  assert.equal(admits(s, 1_000), false, 'the probe is out: nobody else');
  assert.equal(record(s, false, 1_000, true, DEFAULT_BREAKER, noJitter), true);
  assert.equal(s.ejectedUntil, 3_000);
  sent(s, 3_000);
  record(s, true, 3_000, true, DEFAULT_BREAKER, noJitter);
  assert.deepEqual(s, closedBreaker());
});

test('the last endpoint is never ejected', () => {
  const s = closedBreaker();
  for (let i = 0; i < 20; i++) assert.equal(record(s, false, 0, false, DEFAULT_BREAKER, noJitter), false);
  assert.equal(admits(s, 0), true);
});

test('penalties grow exponentially to 60 s, jitter only stretches them', () => {
  assert.equal(penaltyMs(0, DEFAULT_BREAKER, noJitter), 1_000);
  assert.equal(penaltyMs(3, DEFAULT_BREAKER, noJitter), 8_000);
  assert.equal(penaltyMs(10, DEFAULT_BREAKER, noJitter), 60_000);
  assert.equal(penaltyMs(0, DEFAULT_BREAKER, () => 1), 1_500);
  assert.equal(penaltyMs(10, DEFAULT_BREAKER, () => 1), 60_000);
});
