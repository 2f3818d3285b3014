import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from './clock.ts';
import { LeaderElector, LeaseConflict, type LeaseRecord, type LeaseStore } from './leader.ts';

/** An in-memory Lease with the API server's optimistic concurrency. */
class MemoryLease implements LeaseStore {
  record: LeaseRecord | undefined;
  version = 0;
  failing = false;
  get() {
    if (this.failing) return Promise.reject(new Error('API server unreachable'));
    return Promise.resolve(this.record ? { record: { ...this.record }, version: String(this.version) } : undefined);
  }
  create(record: LeaseRecord) {
    if (this.failing) return Promise.reject(new Error('API server unreachable'));
    if (this.record) return Promise.reject(new LeaseConflict('exists'));
    this.record = record;
    this.version++;
    return Promise.resolve();
  }
  update(record: LeaseRecord, version: string) {
    if (this.failing) return Promise.reject(new Error('API server unreachable'));
    if (String(this.version) !== version) return Promise.reject(new LeaseConflict('changed'));
    this.record = record;
    this.version++;
    return Promise.resolve();
  }
}

function candidate(store: LeaseStore, clock: FakeClock, identity: string) {
  const log: string[] = [];
  const e = new LeaderElector({
    store, clock, identity,
    onStartedLeading: () => log.push('started'), onStoppedLeading: () => log.push('stopped'),
  });
  return { e, log };
}

test('the first candidate takes the Lease; the second waits while it is renewed', async () => {
  const clock = new FakeClock();
  const store = new MemoryLease();
  const a = candidate(store, clock, 'a');
  const b = candidate(store, clock, 'b');
  a.e.start();
  await clock.advance(0);
  b.e.start();
  await clock.advance(60_000);
  assert.equal(a.e.isLeader, true);
  assert.equal(b.e.isLeader, false);
  assert.equal(store.record?.holderIdentity, 'a');
  assert.equal(store.record?.leaseDurationSeconds, 15);
  assert.deepEqual(a.log, ['started']);
  assert.deepEqual(b.log, []);
});

test('a leader that stops without releasing is replaced after the lease duration, not before', async () => {
  const clock = new FakeClock();
  const store = new MemoryLease();
  const a = candidate(store, clock, 'a');
  const b = candidate(store, clock, 'b');
  a.e.start();
  await clock.advance(0);
  b.e.start();
  await clock.advance(1_000);
  await a.e.stop(false);
  await clock.advance(12_000);
  assert.equal(b.e.isLeader, false, 'the Lease is still fresh');
  await clock.advance(6_000);
  assert.equal(b.e.isLeader, true, 'taken over once 15 s passed without a renewal');
  assert.equal(store.record?.holderIdentity, 'b');
  assert.equal(store.record?.leaseTransitions, 1);
});

test('a released Lease is taken at the next retry', async () => {
  const clock = new FakeClock();
  const store = new MemoryLease();
  const a = candidate(store, clock, 'a');
  const b = candidate(store, clock, 'b');
  a.e.start();
  await clock.advance(0);
  b.e.start();
  await clock.advance(0);
  await a.e.stop(true);
  assert.deepEqual(a.log, ['started', 'stopped']);
  await clock.advance(2_000);
  assert.equal(b.e.isLeader, true);
});

test('a leader that cannot renew stops leading at the renew deadline, before the Lease expires for others', async () => {
  const clock = new FakeClock();
  const store = new MemoryLease();
  const a = candidate(store, clock, 'a');
  a.e.start();
  await clock.advance(0);
  store.failing = true;
  await clock.advance(9_000);
  assert.equal(a.e.isLeader, true, 'still within the renew deadline');
  await clock.advance(1_000);
  assert.equal(a.e.isLeader, false);
  assert.deepEqual(a.log, ['started', 'stopped']);
});

test('a leader whose Lease was taken by someone else stops at once', async () => {
  const clock = new FakeClock();
  const store = new MemoryLease();
  const a = candidate(store, clock, 'a');
  a.e.start();
  await clock.advance(0);
  store.record = { ...store.record, holderIdentity: 'intruder', leaseDurationSeconds: 15 };
  store.version++;
  await clock.advance(2_000);
  assert.equal(a.e.isLeader, false);
  assert.deepEqual(a.log, ['started', 'stopped']);
});
