// A work queue of object keys, as client-go's workqueue: a key waiting is
// not queued twice; a key being processed is never processed twice at once,
// and one re-added meanwhile is processed again once the first run ends (so
// no change is lost); a run that throws is retried after a per-key
// exponential backoff, reset by a success; and the whole queue is rate
// limited by a token bucket, so a storm of failures cannot hammer the API.
import { systemClock, type Clock } from '../../shared/control-plane/clock.ts';

export interface WorkQueueOptions {
  process: (key: string) => Promise<void>;
  /** Told about every failed run, with the delay before the retry. */
  onError?: (key: string, err: unknown, retryInMs: number) => void;
  concurrency?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** Runs started per second on average, and the burst allowed above it. */
  ratePerSecond?: number;
  burst?: number;
  clock?: Clock;
}

export class WorkQueue {
  readonly #o: Required<Omit<WorkQueueOptions, 'onError'>> & Pick<WorkQueueOptions, 'onError'>;
  /** Waiting keys, oldest first (a Set keeps insertion order and de-duplicates). */
  readonly #waiting = new Set<string>();
  readonly #running = new Set<string>();
  /** Keys re-added while running: queued again when the run ends. */
  readonly #dirty = new Set<string>();
  readonly #delayed = new Map<string, () => void>();
  readonly #failures = new Map<string, number>();
  #tokens: number;
  #refilledAt: number;
  #wake: (() => void) | undefined;
  #stopped = false;

  constructor(o: WorkQueueOptions) {
    this.#o = {
      concurrency: 2, baseDelayMs: 200, maxDelayMs: 60_000, ratePerSecond: 20, burst: 100, clock: systemClock, ...o,
    };
    this.#tokens = this.#o.burst;
    this.#refilledAt = this.#o.clock.now();
  }

  get length(): number {
    return this.#waiting.size;
  }

  /** How many times in a row this key has failed. */
  failures(key: string): number {
    return this.#failures.get(key) ?? 0;
  }

  add(key: string): void {
    if (this.#stopped) return;
    this.#delayed.get(key)?.();
    this.#delayed.delete(key);
    if (this.#running.has(key)) { this.#dirty.add(key); return; }
    this.#waiting.add(key);
    this.#pump();
  }

  addAfter(key: string, ms: number): void {
    if (this.#stopped || this.#delayed.has(key)) return;
    this.#delayed.set(key, this.#o.clock.after(ms, () => { this.#delayed.delete(key); this.add(key); }));
  }

  stop(): void {
    this.#stopped = true;
    for (const cancel of this.#delayed.values()) cancel();
    this.#delayed.clear();
    this.#wake?.();
    this.#waiting.clear();
  }

  backoffMs(failures: number): number {
    return Math.min(this.#o.maxDelayMs, this.#o.baseDelayMs * 2 ** Math.min(failures - 1, 30));
  }

  #takeToken(): number {
    const now = this.#o.clock.now();
    this.#tokens = Math.min(this.#o.burst, this.#tokens + ((now - this.#refilledAt) * this.#o.ratePerSecond) / 1000);
    this.#refilledAt = now;
    if (this.#tokens >= 1) { this.#tokens -= 1; return 0; }
    return Math.ceil(((1 - this.#tokens) * 1000) / this.#o.ratePerSecond);
  }

  #pump(): void {
    while (!this.#stopped && !this.#wake && this.#running.size < this.#o.concurrency) {
      const key = [...this.#waiting].find((k) => !this.#running.has(k));
      if (key === undefined) return;
      const waitMs = this.#takeToken();
      if (waitMs > 0) {
        const cancel = this.#o.clock.after(waitMs, () => { this.#wake = undefined; this.#pump(); });
        this.#wake = () => { cancel(); this.#wake = undefined; };
        return;
      }
      this.#waiting.delete(key);
      this.#running.add(key);
      void this.#run(key);
    }
  }

  async #run(key: string): Promise<void> {
    try {
      await this.#o.process(key);
      this.#failures.delete(key);
    } catch (err) {
      const n = (this.#failures.get(key) ?? 0) + 1;
      this.#failures.set(key, n);
      const delay = this.backoffMs(n);
      this.#o.onError?.(key, err, delay);
      if (!this.#dirty.has(key)) this.addAfter(key, delay);
    } finally {
      this.#running.delete(key);
      if (this.#dirty.delete(key)) this.add(key);
      this.#pump();
    }
  }
}
