// A small seeded generator (mulberry32) so every fuzz run is reproducible:
// the seed is printed on failure and SKEIN_FUZZ_SEED replays it.
import { messageOf } from '../../api/errors.ts';
export interface Random {
  readonly seed: number;
  /** A float in [0, 1). */
  next(): number;
  /** An integer in [0, n). */
  int(n: number): number;
  pick<T>(items: readonly T[]): T;
  bytes(n: number): Buffer;
  chance(p: number): boolean;
}

export function seeded(seed: number): Random {
  let a = seed >>> 0;
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number): number => Math.floor(next() * n);
  return {
    seed,
    next,
    int,
    pick: <T>(items: readonly T[]): T => {
      if (items.length === 0) throw new RangeError('pick from an empty list');
      return items[int(items.length)]!;
    },
    bytes: (n) => Buffer.from(Array.from({ length: n }, () => int(256))),
    chance: (p) => next() < p,
  };
}

/** The run's base seed: SKEIN_FUZZ_SEED when set (to replay a failure), else a fixed default so `make test` is deterministic. */
export function baseSeed(env: NodeJS.ProcessEnv = process.env, fallback = 0x5ce1): number {
  const raw = env.SKEIN_FUZZ_SEED;
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n)) throw new Error(`SKEIN_FUZZ_SEED must be an integer, got "${raw}"`);
  return n;
}

/**
 * Runs `count` cases, `width` at a time, case i with seed base+i; a failing
 * case is rethrown with the seed that replays it, so the report names it.
 */
export async function forEachCase(base: number, count: number, body: (rnd: Random, index: number) => Promise<void>, width = 1): Promise<void> {
  const run = async (i: number): Promise<void> => {
    try {
      await body(seeded(base + i), i);
    } catch (err) {
      throw new Error(`fuzz case ${i} failed; replay with SKEIN_FUZZ_SEED=${base} (case seed ${base + i}): ${messageOf(err)}`, { cause: err });
    }
  };
  for (let start = 0; start < count; start += width) {
    await Promise.all(Array.from({ length: Math.min(width, count - start) }, (_, k) => run(start + k)));
  }
}
