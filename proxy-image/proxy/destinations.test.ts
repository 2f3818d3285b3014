import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Update } from '../../api/discovery-protocol.ts';
import { p2cPeakEwma } from './balancer.ts';
import { Destinations } from './destinations.ts';

function fakeDiscovery() {
  const watchers = new Map<string, (u: Update) => void>();
  let stopped = 0;
  return {
    watches: () => watchers.size,
    stopped: () => stopped,
    push: (target: string, u: Update) => watchers.get(target)?.(u),
    watch(target: string, onUpdate: (u: Update) => void) {
      watchers.set(target, onUpdate);
      return () => { stopped++; watchers.delete(target); };
    },
  };
}
const update = (ports: number[]): Update => ({ type: 'update', exists: true, opaque: false, endpoints: ports.map((port) => ({ ip: '10.0.0.1', port, protocolHint: 'unknown', labels: {} })) });

test('one watch per destination, shared by its connections; the latest Update feeds the balancer', async () => {
  const d = fakeDiscovery();
  const ds = new Destinations({ discovery: d, balancer: () => p2cPeakEwma((e) => String(e.port)), idleMs: 60_000 });
  try {
    const a = ds.acquire('10.96.0.1:80');
    const b = ds.acquire('10.96.0.1:80');
    assert.equal(a.destination, b.destination);
    assert.equal(d.watches(), 1);
    const answered = a.destination.answered(1_000);
    d.push('10.96.0.1:80', update([8080, 8081]));
    assert.equal(await answered, true);
    assert.equal(a.destination.balancer.size, 2);
    d.push('10.96.0.1:80', update([8081]));
    assert.equal(a.destination.balancer.pick()?.endpoint.port, 8081);
  } finally {
    ds.close();
  }
});

test('no answer within the bound: the caller learns it (and passes the connection through)', async () => {
  const ds = new Destinations({ discovery: fakeDiscovery(), balancer: () => p2cPeakEwma((e) => String(e.port)), idleMs: 60_000 });
  try {
    assert.equal(await ds.acquire('10.96.0.9:80').destination.answered(10), false);
  } finally {
    ds.close();
  }
});

test('a destination stops its watch only once no connection used it for idleMs', () => {
  const d = fakeDiscovery();
  const ds = new Destinations({ discovery: d, balancer: () => p2cPeakEwma((e) => String(e.port)), idleMs: 1_000 });
  try {
    const a = ds.acquire('10.96.0.1:80');
    ds.sweep(Date.now() + 10_000);
    assert.equal(ds.size, 1, 'in use');
    a.release();
    a.release();
    ds.sweep(Date.now() + 10);
    assert.equal(ds.size, 1, 'idle, but not for long');
    ds.sweep(Date.now() + 2_000);
    assert.equal(ds.size, 0);
    assert.equal(d.stopped(), 1);
  } finally {
    ds.close();
  }
});
