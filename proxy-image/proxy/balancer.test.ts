import { test } from 'node:test';
import assert from 'node:assert/strict';
import { seeded as seededRandom } from '../../e2e/fuzz/random.ts';
import { p2cPeakEwma, observe, decayed, cost, twoDistinct, type Balancer } from './balancer.ts';

/** The fuzzers' seeded generator (mulberry32): every run draws the same sequence. */
const seeded = (seed: number): (() => number) => { const r = seededRandom(seed); return () => r.next(); };

interface Ep { name: string }
const ep = (name: string): Ep => ({ name });

function setup(names: string[], seed = 1) {
  let clock = 1_000;
  const balancer = p2cPeakEwma<Ep>((e) => e.name, { random: seeded(seed), now: () => clock });
  balancer.update(names.map(ep));
  return { balancer, advance: (ms: number) => { clock += ms; } };
}

/** Sends `n` requests one after another; each endpoint answers in its own latency. */
function serveSequentially(b: Balancer<Ep>, advance: (ms: number) => void, latency: Record<string, number>, n: number): Map<string, number> {
  const counts = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const p = b.pick();
    assert.ok(p);
    counts.set(p.endpoint.name, (counts.get(p.endpoint.name) ?? 0) + 1);
    advance(latency[p.endpoint.name] ?? 0);
    p.done({ ok: true });
  }
  return counts;
}

test('no endpoints: nothing to pick', () => {
  const { balancer } = setup([]);
  assert.equal(balancer.size, 0);
  assert.equal(balancer.pick(), undefined);
});

test('one endpoint takes every request', () => {
  const { balancer, advance } = setup(['only']);
  const counts = serveSequentially(balancer, advance, { only: 3 }, 20);
  assert.deepEqual([...counts], [['only', 20]]);
});

test('prefers the faster endpoint', () => {
  const { balancer, advance } = setup(['fast', 'slow-1', 'slow-2']);
  const counts = serveSequentially(balancer, advance, { fast: 5, 'slow-1': 80, 'slow-2': 80 }, 1_000);
  // The fast one wins every pair it is in (2 of 3); the slow ones share the rest.
  assert.ok((counts.get('fast') ?? 0) > 600, `fast got ${counts.get('fast')}`);
  assert.ok((counts.get('slow-1') ?? 0) + (counts.get('slow-2') ?? 0) < 400);
});

test('spreads evenly over equal endpoints', () => {
  const names = ['a', 'b', 'c', 'd'];
  const { balancer, advance } = setup(names, 42);
  const n = 4_000;
  const counts = serveSequentially(balancer, advance, Object.fromEntries(names.map((k) => [k, 10])), n);
  const expected = n / names.length;
  const chiSquare = names.reduce((sum, k) => sum + ((counts.get(k) ?? 0) - expected) ** 2 / expected, 0);
  // 16.27 is the 0.1 % critical value for 3 degrees of freedom.
  assert.ok(chiSquare < 16.27, `chi-square ${chiSquare.toFixed(2)} for ${JSON.stringify([...counts])}`);
});

test('pending requests raise an endpoint\'s cost', () => {
  const { balancer } = setup(['a', 'b']);
  const picks = Array.from({ length: 10 }, () => balancer.pick());
  const names = picks.map((p) => p?.endpoint.name);
  // Equal estimates: each outstanding request makes its endpoint dearer, so they alternate.
  assert.equal(names.filter((n) => n === 'a').length, 5);
  assert.equal(names.filter((n) => n === 'b').length, 5);
});

test('a fast endpoint with many requests in flight loses to an idle slower one', () => {
  const { balancer, advance } = setup(['fast', 'slow']);
  serveSequentially(balancer, advance, { fast: 5, slow: 20 }, 50);
  const inFlight = Array.from({ length: 6 }, () => balancer.pick());
  assert.ok(inFlight.some((p) => p?.endpoint.name === 'slow'), 'slow never got a request while fast was busy');
});

test('failures count as slow, so a failing endpoint is avoided', () => {
  const { balancer, advance } = setup(['good', 'bad']);
  for (let i = 0; i < 200; i++) {
    const p = balancer.pick();
    assert.ok(p);
    advance(2);
    p.done({ ok: p.endpoint.name !== 'bad' });
  }
  const counts = serveSequentially(balancer, advance, { good: 2, bad: 2 }, 100);
  assert.equal(counts.get('bad') ?? 0, 0);
});

test('update keeps the state of endpoints that stay and drops the rest', () => {
  const { balancer, advance } = setup(['slow', 'b']);
  serveSequentially(balancer, advance, { slow: 500, b: 1 }, 20);
  // New objects with the same keys: still known to be slow.
  balancer.update([ep('slow'), ep('b'), ep('c')]);
  assert.equal(balancer.size, 3);
  const counts = serveSequentially(balancer, advance, { slow: 500, b: 1, c: 1 }, 90);
  assert.ok((counts.get('slow') ?? 0) < 5, JSON.stringify([...counts]));

  const outstanding = balancer.pick();
  assert.ok(outstanding);
  balancer.update([ep('b')]);
  assert.equal(balancer.size, 1);
  outstanding.done({ ok: false });
  outstanding.done({ ok: false });
  assert.equal(balancer.pick()?.endpoint.name, 'b');
});

test('an endpoint that comes back starts fresh at the default estimate', () => {
  const { balancer, advance } = setup(['x', 'y']);
  serveSequentially(balancer, advance, { x: 900, y: 1 }, 10);
  balancer.update([ep('y')]);
  balancer.update([ep('x'), ep('y')]);
  // y's estimate is about 1 ms and x starts at the 30 ms default: y still wins, but x is not penalised at 900.
  const held = Array.from({ length: 40 }, () => balancer.pick());
  assert.ok(held.some((p) => p?.endpoint.name === 'x'));
});

test('done twice counts once', () => {
  const { balancer } = setup(['a', 'b']);
  const first = balancer.pick();
  assert.ok(first);
  first.done({ ok: true });
  first.done({ ok: true });
  // Had the second done lowered pending below zero, the same endpoint would now look free twice over.
  const names = Array.from({ length: 4 }, () => balancer.pick()?.endpoint.name);
  assert.equal(names.filter((n) => n === first.endpoint.name).length, 2);
});

test('peak EWMA: a slower sample is taken at once, a faster one is averaged in by elapsed time', () => {
  const s = { rttMs: 10, updatedAt: 0, pending: 0 };
  observe(s, 50, 100, 10_000);
  assert.equal(s.rttMs, 50);
  observe(s, 0, 100 + 10_000, 10_000);
  assert.ok(Math.abs(s.rttMs - 50 * Math.exp(-1)) < 1e-9);
  assert.ok(Math.abs(decayed({ rttMs: 50, updatedAt: 0, pending: 0 }, 20_000, 10_000) - 50 * Math.exp(-2)) < 1e-9);
  assert.equal(cost({ rttMs: 20, updatedAt: 5, pending: 2 }, 5, 10_000, 30), 60);
  assert.equal(cost({ rttMs: 0, updatedAt: 5, pending: 1 }, 5, 10_000, 30), 60);
});

test('twoDistinct never returns the same index, even at the edges of the draw', () => {
  for (const draws of [[0, 0], [0.9999999, 0.9999999], [0.5, 0.5], [0, 0.9999999]]) {
    for (const n of [2, 3, 7]) {
      let i = 0;
      const [a, b] = twoDistinct(n, () => draws[i++ % 2] as number);
      assert.notEqual(a, b);
      assert.ok(a >= 0 && a < n && b >= 0 && b < n);
    }
  }
});

/** The first request spends 500 ms connecting, then 1 ms answering; `begin` marks the connection ready when asked to. Returns how many of the next 100 requests that endpoint gets. */
function afterSlowFirstConnect(useBegin: boolean): number {
  const { balancer, advance } = setup(['a', 'b']);
  const first = balancer.pick();
  assert.ok(first);
  advance(500);
  if (useBegin) first.begin();
  advance(1);
  first.done({ ok: true });
  return serveSequentially(balancer, advance, { a: 1, b: 1 }, 100).get(first.endpoint.name) ?? 0;
}

test('latency is timed from begin(): a slow first connect does not make an endpoint look slow', () => {
  const n = afterSlowFirstConnect(true);
  assert.ok(n >= 30, `it got ${n} of 100`);
});

test('without begin() the connect time counts, and the endpoint is shunned for a while', () => {
  const n = afterSlowFirstConnect(false);
  assert.ok(n < 10, `it got ${n} of 100`);
});

test('begin() after done() changes nothing', () => {
  const { balancer, advance } = setup(['only']);
  const p = balancer.pick();
  advance(5);
  p?.done({ ok: true });
  p?.begin();
  p?.done({ ok: false });
  const next = balancer.pick();
  assert.equal(next?.endpoint.name, 'only');
});

test('circuit breaking: 7 consecutive failures eject an endpoint, it is skipped, then probed back after its penalty', () => {
  let clock = 0;
  const ejected: string[] = [];
  const b = p2cPeakEwma<Ep>((e) => e.name, { random: seeded(3), now: () => clock, decayMs: 1, breaker: { jitterRatio: 0 }, onEject: (e) => ejected.push(e.name) });
  const eps = ['a', 'b', 'c'].map(ep);
  b.update(eps);
  let failures = 0;
  // The clock moves so the latency penalty of each failure decays and 'b' keeps being chosen.
  for (let i = 0; i < 500 && ejected.length === 0; i++) {
    const p = b.pick()!;
    const ok = p.endpoint.name !== 'b';
    if (!ok) failures++;
    p.done({ ok });
    clock += 20;
  }
  assert.deepEqual(ejected, ['b']);
  assert.equal(failures, 7);
  for (let i = 0; i < 100; i++) {
    const p = b.pick()!;
    assert.notEqual(p.endpoint.name, 'b', 'an ejected endpoint gets nothing');
    p.done({ ok: true });
  }
  clock += 1_000;
  let probe;
  for (let i = 0; i < 200 && !probe; i++) {
    const p = b.pick()!;
    if (p.endpoint.name === 'b') probe = p; else p.done({ ok: true });
  }
  assert.ok(probe, 'after the penalty the endpoint is tried again');
  for (let i = 0; i < 50; i++) {
    const p = b.pick()!;
    assert.notEqual(p.endpoint.name, 'b', 'one probe at a time');
    p.done({ ok: true });
  }
  probe.done({ ok: true });
  const seen = new Set<string>();
  for (let i = 0; i < 200; i++) { const p = b.pick()!; seen.add(p.endpoint.name); p.done({ ok: true }); }
  assert.ok(seen.has('b'), 'a successful probe closes the breaker');
});

test('circuit breaking never ejects the last endpoint still taking requests', () => {
  let clock = 0;
  const ejected: string[] = [];
  const b = p2cPeakEwma<Ep>((e) => e.name, { random: seeded(5), now: () => clock, onEject: (e) => ejected.push(e.name) });
  b.update([ep('a'), ep('b')]);
  for (let i = 0; i < 100; i++) { const p = b.pick()!; p.done({ ok: false }); }
  assert.equal(ejected.length, 1, 'one of two failing endpoints is ejected, the other stays');
  for (let i = 0; i < 20; i++) { const p = b.pick(); assert.ok(p); p.done({ ok: false }); clock += 1; }
});

test('pick(avoid) skips the previous endpoint unless it is the only one', () => {
  const { balancer } = setup(['a', 'b']);
  for (let i = 0; i < 20; i++) {
    const first = balancer.pick()!;
    const second = balancer.pick(first.endpoint)!;
    assert.notEqual(second.endpoint, first.endpoint);
    first.done({ ok: true });
    second.done({ ok: true });
  }
  const single = setup(['only']).balancer;
  const p = single.pick()!;
  assert.equal(single.pick(p.endpoint)?.endpoint.name, 'only');
});
