import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Counter, Registry } from '../../shared/prom-text.ts';
import { proxyReadiness, startAdmin, MAX_BODY_BYTES, type Readiness } from './admin.ts';

async function withAdmin(
  o: { ready?: () => Readiness; shutdownEnabled?: boolean },
  body: (base: string, state: { registry: Registry; shutdowns: number; shutdown: Promise<void> }) => Promise<void>,
): Promise<void> {
  const registry = new Registry();
  const { promise: shutdown, resolve } = Promise.withResolvers<void>();
  const state = { registry, shutdowns: 0, shutdown };
  const admin = await startAdmin({
    host: '127.0.0.1', port: 0, registry,
    ready: o.ready ?? (() => ({ ready: true, missing: [] })),
    shutdownEnabled: o.shutdownEnabled ?? false,
    onShutdown: () => { state.shutdowns += 1; resolve(); },
  });
  try {
    assert.notEqual(admin.port, 0);
    await body(`http://127.0.0.1:${admin.port}`, state);
  } finally {
    await admin.close();
  }
}

test('/metrics serves the registry in the Prometheus text format', async () => {
  await withAdmin({}, async (base, { registry }) => {
    new Counter({ name: 'request_total', help: 'h', registers: [registry] }).inc(3);
    const res = await fetch(`${base}/metrics`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), registry.contentType);
    assert.match(await res.text(), /^request_total 3$/m);
  });
});

test('/ready is 503 listing what is missing, then 200', async () => {
  let readiness: Readiness = { ready: false, missing: ['identity: no certificate yet', 'discovery: not connected'] };
  await withAdmin({ ready: () => readiness }, async (base) => {
    const before = await fetch(`${base}/ready`);
    assert.equal(before.status, 503);
    assert.equal(await before.text(), 'not ready:\nidentity: no certificate yet\ndiscovery: not connected\n');
    readiness = { ready: true, missing: [] };
    const after = await fetch(`${base}/ready?verbose=1`);
    assert.equal(after.status, 200);
    assert.equal(await after.text(), 'ready\n');
  });
});

test('/live answers 200 even when not ready', async () => {
  await withAdmin({ ready: () => ({ ready: false, missing: ['identity: no certificate yet'] }) }, async (base) => {
    const res = await fetch(`${base}/live`);
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'live\n');
  });
});

test('POST /shutdown is refused unless enabled', async () => {
  await withAdmin({ shutdownEnabled: false }, async (base, state) => {
    const res = await fetch(`${base}/shutdown`, { method: 'POST' });
    assert.equal(res.status, 403);
    assert.match(await res.text(), /proxy-admin-shutdown/);
    assert.equal(state.shutdowns, 0);
  });
});

test('POST /shutdown calls onShutdown once the answer is sent, when enabled', async () => {
  await withAdmin({ shutdownEnabled: true }, async (base, state) => {
    const wrongMethod = await fetch(`${base}/shutdown`);
    assert.equal(wrongMethod.status, 405);
    await wrongMethod.text();
    const res = await fetch(`${base}/shutdown`, { method: 'POST' });
    assert.equal(res.status, 202);
    assert.equal(await res.text(), 'shutting down\n');
    await state.shutdown;
    assert.equal(state.shutdowns, 1);
  });
});

test('unknown paths are 404; wrong methods are 405', async () => {
  await withAdmin({}, async (base) => {
    const missing = await fetch(`${base}/debug`);
    assert.equal(missing.status, 404);
    await missing.text();
    const post = await fetch(`${base}/ready`, { method: 'POST' });
    assert.equal(post.status, 405);
    await post.text();
  });
});

test('bodies larger than the limit are refused without being read', async () => {
  await withAdmin({ shutdownEnabled: true }, async (base, state) => {
    const res = await fetch(`${base}/shutdown`, { method: 'POST', body: 'x'.repeat(MAX_BODY_BYTES + 1) });
    assert.equal(res.status, 413);
    await res.text();
    assert.equal(state.shutdowns, 0);
  });
});

test('a port already in use is an error, not a silent second server', async () => {
  await withAdmin({}, async (base) => {
    const port = Number(new URL(base).port);
    await assert.rejects(
      startAdmin({ host: '127.0.0.1', port, registry: new Registry(), ready: () => ({ ready: true, missing: [] }), shutdownEnabled: false, onShutdown: () => undefined }),
      /EADDRINUSE/,
    );
  });
});

test('readiness: a valid certificate always, discovery only until it first answered — a later outage keeps the pod in its Services', () => {
  assert.deepEqual(proxyReadiness({ certificateValid: false, discoveryEverConnected: false }),
    { ready: false, missing: ['identity: no valid certificate yet', 'discovery: not connected yet'] });
  assert.deepEqual(proxyReadiness({ certificateValid: true, discoveryEverConnected: false }), { ready: false, missing: ['discovery: not connected yet'] });
  assert.deepEqual(proxyReadiness({ certificateValid: true, discoveryEverConnected: true }), { ready: true, missing: [] });
  // A certificate about to expire (identity.ready() false) takes the pod out, discovery or not.
  assert.deepEqual(proxyReadiness({ certificateValid: false, discoveryEverConnected: true }), { ready: false, missing: ['identity: no valid certificate yet'] });
});
