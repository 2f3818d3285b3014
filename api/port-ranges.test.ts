import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parsePortRanges, formatPortRanges, inPortRanges } from './port-ranges.ts';

test('ports and ranges round-trip', () => {
  const ranges = parsePortRanges(' 25, 3306 ,8000 - 8100');
  assert.deepEqual(ranges, [{ from: 25, to: 25 }, { from: 3306, to: 3306 }, { from: 8000, to: 8100 }]);
  assert.equal(formatPortRanges(ranges), '25,3306,8000-8100');
  assert.deepEqual(parsePortRanges(''), []);
});

test('out-of-range, reversed and malformed entries are refused with what to write', () => {
  for (const bad of ['0', '65536', '90-80', 'http', '25,,26']) {
    assert.throws(() => parsePortRanges(bad), /is not a port \(1-65535\) or a range like 8000-8010/);
  }
});

test('inPortRanges', () => {
  const ranges = [{ from: 25, to: 25 }, { from: 8000, to: 8100 }];
  assert.equal(inPortRanges(25, ranges), true);
  assert.equal(inPortRanges(8100, ranges), true);
  assert.equal(inPortRanges(8101, ranges), false);
  assert.equal(inPortRanges(26, []), false);
});
