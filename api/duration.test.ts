import { test } from 'node:test';
import assert from 'node:assert/strict';
import { durationMs, parseDurationMs, DurationError } from './duration.ts';

test('durations read as Go writes them (ServiceProfile timeouts, MeshIdentity lifetimes)', () => {
  assert.equal(parseDurationMs('300ms'), 300);
  assert.equal(parseDurationMs('2s'), 2000);
  assert.equal(parseDurationMs('1m30s'), 90_000);
  assert.equal(parseDurationMs('1h30m'), 5_400_000);
  assert.equal(parseDurationMs('24h'), 86_400_000);
  assert.equal(parseDurationMs('1.5s'), 1500);
  assert.equal(parseDurationMs('250us'), 0.25);
  for (const bad of ['', '10', '2 s', '-1s', '1d', 's', '1.s', `${'9'.repeat(70)}s`]) assert.equal(parseDurationMs(bad), undefined, bad);
});

test('a bare number is seconds only where a caller allows it (SKEIN_* variables, annotations)', () => {
  assert.equal(parseDurationMs('30', { bareSeconds: true }), 30_000);
  assert.equal(parseDurationMs('1.5', { bareSeconds: true }), 1_500);
  assert.equal(parseDurationMs('30s', { bareSeconds: true }), 30_000);
  assert.equal(parseDurationMs('30'), undefined);
});

test('durationMs throws a coded error saying what to write', () => {
  assert.equal(durationMs('2m'), 120_000);
  assert.throws(() => durationMs('-1s'), (e: unknown) => e instanceof DurationError && e.code === 'invalid_duration' && /not a duration such as 30s/.test(e.message));
});
