import { test } from 'node:test';
import assert from 'node:assert/strict';
import { microTime } from './microtime.ts';

test('MicroTime has microsecond precision in UTC', () => {
  assert.equal(microTime(new Date('2026-11-23T19:08:21.163Z')), '2026-11-23T19:08:21.163000Z');
});
