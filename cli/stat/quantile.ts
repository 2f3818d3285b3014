// Counter arithmetic between two scrapes and the quantile of a cumulative
// histogram, as Prometheus's rate() and histogram_quantile() compute them.

export interface Bucket {
  /** The bucket's upper bound (`le`), Infinity for +Inf. */
  le: number;
  /** Cumulative count of observations <= le. */
  count: number;
}

/** How much a counter grew; a smaller second value means the process restarted and counts from zero again. */
export function counterDelta(before: number | undefined, after: number): number {
  if (before === undefined || after < before) return after;
  return after - before;
}

export function ratePerSecond(delta: number, windowSeconds: number): number {
  return windowSeconds > 0 ? delta / windowSeconds : 0;
}

/** Successes over all responses; undefined when there were none (shown as "-", not 0 % or 100 %). */
export function successRate(success: number, failure: number): number | undefined {
  const total = success + failure;
  return total > 0 ? success / total : undefined;
}

/**
 * histogram_quantile(q, buckets): find the bucket the q-th observation falls
 * in and interpolate linearly inside it (the first bucket starts at 0). A
 * quantile in the +Inf bucket answers the highest finite bound, as Prometheus
 * does. Undefined when the histogram is empty.
 */
export function histogramQuantile(q: number, buckets: readonly Bucket[]): number | undefined {
  const sorted = [...buckets].sort((a, b) => a.le - b.le);
  const last = sorted[sorted.length - 1];
  if (!last || last.le !== Infinity || last.count <= 0) return undefined;
  if (q <= 0) return 0;
  if (q >= 1) return sorted.length > 1 ? sorted[sorted.length - 2]!.le : undefined;
  const rank = q * last.count;
  const i = sorted.findIndex((b) => b.count >= rank);
  const bucket = sorted[i]!;
  if (bucket.le === Infinity) return sorted.length > 1 ? sorted[sorted.length - 2]!.le : undefined;
  const lower = i === 0 ? 0 : sorted[i - 1]!.le;
  const below = i === 0 ? 0 : sorted[i - 1]!.count;
  const inBucket = bucket.count - below;
  if (inBucket <= 0) return bucket.le;
  return lower + (bucket.le - lower) * ((rank - below) / inBucket);
}
