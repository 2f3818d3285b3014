// The one Kubernetes quantity grammar (resources.limits, SMI v1alpha1
// weights, the downward API's resourceFieldRef): a decimal number and an
// optional suffix. Hand-written because @kubernetes/client-node's
// quantityToScalar returns a bigint for k/M/G/T, throws a bare SyntaxError
// on decimals with those suffixes ("1.5Gi") and reads "" as 0; here every
// quantity is a number and a bad one says what to write.
import { SkeinError } from './errors.ts';
import { z } from 'zod';

const QUANTITY = /^([0-9]+(?:\.[0-9]+)?)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$/;
const SCALE: Record<string, number> = {
  '': 1, m: 1e-3, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18,
  Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, Ti: 1024 ** 4, Pi: 1024 ** 5, Ei: 1024 ** 6,
};

export class QuantityError extends SkeinError {
  readonly code = 'invalid_quantity';
}

export function isQuantity(text: string): boolean {
  return QUANTITY.test(text.trim());
}

/** The quantity as a number of units: `500m` is 0.5, `64Mi` is 67108864. */
export function parseQuantity(q: string): number {
  const m = QUANTITY.exec(q.trim());
  if (!m) throw new QuantityError(`"${q}" is not a Kubernetes quantity such as 100m, 0.5, 64Mi or 1Gi`);
  return Number(m[1]) * (SCALE[m[2] ?? ''] ?? 1);
}

/** Thousandths, rounded: the integer form that keeps every ratio of `500m`, `1`, `0.25`. A number is taken as units. */
export function quantityToMilli(q: string | number): number {
  if (typeof q === 'number') return Math.round(q * 1000);
  const m = QUANTITY.exec(q.trim());
  if (!m) throw new QuantityError(`"${q}" is not a quantity such as 500m or 1`);
  // Scaled from the digits, not from parseQuantity's float: 0.1 * 1000 must be 100, not 100.00000000000001.
  return Math.round(Number(m[1]) * 1000 * (SCALE[m[2] ?? ''] ?? 1));
}

export function milliToQuantity(milli: number): string {
  return milli % 1000 === 0 ? String(milli / 1000) : `${milli}m`;
}

/** A quantity as an annotation or a spec field takes it. */
export const quantitySchema = z.string().regex(QUANTITY, 'must be a Kubernetes quantity such as 100m, 0.5, 64Mi or 1Gi');
