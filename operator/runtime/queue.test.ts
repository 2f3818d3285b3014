import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock, settle } from '../../shared/control-plane/clock.ts';
import { WorkQueue } from './queue.ts';

/** A process function whose runs the test finishes by hand. */
function manual() {
  const runs: { key: string; done: () => void; fail: (e: Error) => void }[] = [];
  const process = (key: string) => new Promise<void>((resolve, reject) => { runs.push({ key, done: resolve, fail: reject }); });
  return { runs, process };
}

test('a key added many times while waiting runs once', async () => {
  const clock = new FakeClock();
  const m = manual();
  const blocker = new WorkQueue({ clock, concurrency: 1, process: m.process });
  blocker.add('x');
  blocker.add('a'); blocker.add('a'); blocker.add('a');
  assert.equal(blocker.length, 1, 'a waits once behind x');
  m.runs[0]?.done();
  await settle();
  assert.deepEqual(m.runs.map((r) => r.key), ['x', 'a']);
});

test('a key is never processed twice at once; re-added while running it runs again after', async () => {
  const clock = new FakeClock();
  const m = manual();
  const q = new WorkQueue({ clock, concurrency: 4, process: m.process });
  q.add('a');
  await settle();
  q.add('a');
  await settle();
  assert.equal(m.runs.length, 1, 'the second add waits for the first run, even with free workers');
  m.runs[0]?.done();
  await settle();
  assert.equal(m.runs.length, 2, 'then it runs again');
  m.runs[1]?.done();
  await settle();
  assert.equal(m.runs.length, 2, 'and only once more');
});

test('failures back off exponentially per key; a success resets the count', async () => {
  const clock = new FakeClock();
  const m = manual();
  const errors: number[] = [];
  const q = new WorkQueue({ clock, baseDelayMs: 100, maxDelayMs: 1_000, process: m.process, onError: (_k, _e, ms) => errors.push(ms) });
  q.add('a');
  await settle();
  m.runs[0]?.fail(new Error('conflict'));
  await clock.advance(99);
  assert.equal(m.runs.length, 1, 'not retried before the backoff');
  await clock.advance(1);
  assert.equal(m.runs.length, 2, 'retried after 100 ms');
  m.runs[1]?.fail(new Error('conflict'));
  await clock.advance(199);
  assert.equal(m.runs.length, 2);
  await clock.advance(1);
  assert.equal(m.runs.length, 3, 'retried after 200 ms');
  assert.equal(q.failures('a'), 2);
  m.runs[2]?.done();
  await settle();
  assert.equal(q.failures('a'), 0);
  assert.deepEqual(errors, [100, 200]);
  assert.equal(q.backoffMs(10), 1_000, 'capped');
});

test('the bucket limits how fast runs start', async () => {
  const clock = new FakeClock();
  const started: string[] = [];
  const q = new WorkQueue({ clock, concurrency: 10, ratePerSecond: 10, burst: 2, process: (k) => { started.push(k); return Promise.resolve(); } });
  for (const k of ['a', 'b', 'c', 'd']) q.add(k);
  await settle();
  assert.deepEqual(started, ['a', 'b'], 'the burst');
  await clock.advance(100);
  assert.deepEqual(started, ['a', 'b', 'c'], 'one more per 100 ms');
  await clock.advance(100);
  assert.equal(started.length, 4);
});

test('stop drops waiting and delayed keys', async () => {
  const clock = new FakeClock();
  const m = manual();
  const q = new WorkQueue({ clock, concurrency: 1, process: m.process });
  q.add('a');
  q.add('b');
  q.addAfter('c', 10);
  q.stop();
  await clock.advance(100);
  assert.deepEqual(m.runs.map((r) => r.key), ['a']);
});
