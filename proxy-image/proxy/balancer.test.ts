import { test } from 'node:test';
import assert from 'node:assert/strict';
import { seeded as seededRandom } from '../../testkit/fuzz/random.ts';
import { p2cPeakEwma, observe, decayed, cost, twoDistinct, type Balancer, type BalancerOptions } from './balancer.ts';

/** The fuzzers' seeded generator (mulberry32): every run draws the same sequence. */
const seeded = (seed: number): (() => number) => { const r = seededRandom(seed); return () => r.next(); };

interface Ep { name: string }
const ep = (name: string): Ep => ({ name });

function setup(names: string[], seed = 1, opts: BalancerOptions<Ep> = {}) {
  let clock = 1_000;
  const balancer = p2cPeakEwma<Ep>((e) => e.name, { random: seeded(seed), now: () => clock, ...opts });
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

test('with the load biaser asked for, failures count as slow, so a failing endpoint is avoided', () => {
  const { balancer, advance } = setup(['good', 'bad'], 1, { failurePenaltyMs: 5_000 });
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

/** Three endpoints on a clock that moves 1 ms per request; `bad` answers failures while `failing` is set. Ejections are recorded. */
function breakerHarness(seed: number, opts: BalancerOptions<Ep> = {}) {
  const h = { clock: 0, failing: true, ejected: [] as string[] };
  const balancer = p2cPeakEwma<Ep>((e) => e.name, { random: seeded(seed), now: () => h.clock, onEject: (e) => h.ejected.push(e.name), ...opts });
  balancer.update(['good-1', 'bad', 'good-2'].map(ep));
  /** Up to `n` requests one after another, or until `stop` says so; how many went to each endpoint and how many failed. */
  const serve = (n: number, stop: () => boolean = () => false) => {
    const counts = new Map<string, number>();
    let failures = 0;
    for (let i = 0; i < n && !stop(); i++) {
      const p = balancer.pick()!;
      counts.set(p.endpoint.name, (counts.get(p.endpoint.name) ?? 0) + 1);
      const ok = !(h.failing && p.endpoint.name === 'bad');
      if (!ok) failures++;
      h.clock += 1;
      p.done({ ok });
    }
    return { counts, failures, requests: [...counts.values()].reduce((a, b) => a + b, 0) };
  };
  return { h, balancer, serve };
}

test('circuit breaking with the default balancer: a fast-failing endpoint of three is ejected after 7 failures in a row, within a few dozen requests', () => {
  // Real time scales: the default 10 s decay, requests 1 ms apart. A latency penalty on failures starved 'bad' after its first one, so it was never ejected (the bug seen on the cluster).
  const { h, serve } = breakerHarness(11);
  const r = serve(1_000, () => h.ejected.length > 0);
  assert.deepEqual(h.ejected, ['bad']);
  assert.equal(r.failures, 7);
  assert.ok(r.requests < 50, `ejected after ${r.requests} requests`);
});

test('circuit breaking: an ejected endpoint is skipped, probed once after its penalty, ejected again for longer, and back after a good probe', () => {
  const { h, balancer, serve } = breakerHarness(3, { breaker: { jitterRatio: 0 } });
  serve(1_000, () => h.ejected.length > 0);
  const ejectedAt = h.clock;
  const during = serve(900);
  assert.equal(during.counts.get('bad') ?? 0, 0, 'an ejected endpoint gets nothing during its 1 s penalty');
  h.clock = ejectedAt + 1_000;
  const probed = serve(500, () => h.ejected.length > 1);
  assert.equal(probed.counts.get('bad'), 1, 'one probe after the penalty, and its failure ejects again');
  assert.deepEqual(h.ejected, ['bad', 'bad']);
  h.clock += 1_500;
  assert.equal(serve(400).counts.get('bad') ?? 0, 0, 'the second penalty is longer (2 s)');
  h.failing = false;
  h.clock += 600;
  let probe;
  for (let i = 0; i < 500 && !probe; i++) {
    const p = balancer.pick()!;
    if (p.endpoint.name === 'bad') probe = p; else { h.clock += 1; p.done({ ok: true }); }
  }
  assert.ok(probe, 'after the penalty the endpoint is tried again');
  // Picked and answered at the same instant, so the probe's own latency stays that of a fast answer.
  for (let i = 0; i < 50; i++) {
    const p = balancer.pick()!;
    assert.notEqual(p.endpoint.name, 'bad', 'one probe at a time');
    p.done({ ok: true });
  }
  h.clock += 1;
  probe.done({ ok: true });
  const after = serve(900);
  assert.ok((after.counts.get('bad') ?? 0) > 100, `a successful probe closes the breaker: ${JSON.stringify([...after.counts])}`);
});

test('an update with new objects for the same endpoints keeps an open breaker open', () => {
  const { h, balancer, serve } = breakerHarness(7);
  serve(1_000, () => h.ejected.length > 0);
  assert.deepEqual(h.ejected, ['bad']);
  balancer.update(['good-1', 'bad', 'good-2'].map(ep));
  assert.equal(serve(500).counts.get('bad') ?? 0, 0, 'still ejected after the update');
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

test('skip: endpoints that just refused are never picked while another is left, and are the fallback when none is', () => {
  const { balancer: b } = setup(['a', 'b', 'c', 'd']);
  const refusing = new Set(['a', 'b', 'c']);
  for (let i = 0; i < 200; i++) {
    const p = b.pick(undefined, (e) => refusing.has(e.name));
    assert.equal(p?.endpoint.name, 'd');
    p?.done({ ok: true });
  }
  refusing.add('d');
  assert.ok(b.pick(undefined, (e) => refusing.has(e.name)), 'all skipped: one is still returned');
});
