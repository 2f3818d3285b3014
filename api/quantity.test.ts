import { test } from 'node:test';
import assert from 'node:assert/strict';
import { milliToQuantity, parseQuantity, quantitySchema, quantityToMilli, QuantityError } from './quantity.ts';

test('quantities read as Kubernetes writes them', () => {
  assert.equal(parseQuantity('500m'), 0.5);
  assert.equal(parseQuantity('64Mi'), 64 * 1024 * 1024);
  assert.equal(parseQuantity('1.5Gi'), 1.5 * 1024 ** 3);
  assert.equal(parseQuantity('2k'), 2000);
  assert.equal(parseQuantity('0'), 0);
  assert.throws(() => parseQuantity('lots'), (e: unknown) => e instanceof QuantityError && e.code === 'invalid_quantity' && /not a Kubernetes quantity/.test(e.message));
});

test('thousandths keep every ratio, and back', () => {
  assert.equal(quantityToMilli('500m'), 500);
  assert.equal(quantityToMilli('1'), 1000);
  assert.equal(quantityToMilli('0.25'), 250);
  assert.equal(quantityToMilli('0.1'), 100);
  assert.equal(quantityToMilli('2k'), 2_000_000);
  assert.equal(quantityToMilli(3), 3000);
  assert.equal(milliToQuantity(250), '250m');
  assert.equal(milliToQuantity(2000), '2');
  assert.throws(() => quantityToMilli('half'), /"half" is not a quantity/);
});

test('the zod schema accepts what parseQuantity reads and refuses the rest', () => {
  for (const ok of ['100m', '0.5', '64Mi', '1Gi']) assert.ok(quantitySchema.safeParse(ok).success, ok);
  for (const bad of ['', '1 Gi', '-1', '1gb', '1e3']) assert.ok(!quantitySchema.safeParse(bad).success, bad);
});
