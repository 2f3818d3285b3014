import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { Registry } from '../../shared/prom-text.ts';
import { startAdmin, type Readiness } from './admin.ts';
import { awaitReady, parseAwaitArgs, runAwait, AwaitUsageError, DEFAULT_AWAIT_TIMEOUT_MS } from './await.ts';

async function withAdmin(ready: () => Readiness, body: (port: number) => Promise<void>): Promise<void> {
  const admin = await startAdmin({ host: '127.0.0.1', port: 0, registry: new Registry(), ready, shutdownEnabled: false, onShutdown: () => undefined });
  try { await body(admin.port); } finally { await admin.close(); }
}

/** A loopback port nothing listens on: bound, noted, released. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

test('parseAwaitArgs', () => {
  assert.deepEqual(parseAwaitArgs([]), { timeoutMs: DEFAULT_AWAIT_TIMEOUT_MS });
  assert.deepEqual(parseAwaitArgs(['--timeout=120s']), { timeoutMs: 120_000 });
  assert.deepEqual(parseAwaitArgs(['--timeout', '2m']), { timeoutMs: 120_000 });
  assert.throws(() => parseAwaitArgs(['--timeout=soon']), (e) => e instanceof AwaitUsageError && /--timeout: "soon" is not a duration/.test(e.message));
  assert.throws(() => parseAwaitArgs(['--timeout']), AwaitUsageError);
  assert.throws(() => parseAwaitArgs(['--wait']), /unknown argument "--wait"/);
});

test('returns once /ready turns 200', async () => {
  let polls = 0;
  await withAdmin(() => {
    polls += 1;
    return polls < 3 ? { ready: false, missing: ['identity: no certificate yet'] } : { ready: true, missing: [] };
  }, async (port) => {
    const r = await awaitReady({ url: `http://127.0.0.1:${port}/ready`, timeoutMs: 30_000, intervalMs: 10 });
    assert.deepEqual(r, { ok: true, message: `skein-proxy is ready (http://127.0.0.1:${port}/ready)` });
    assert.equal(polls, 3);
  });
});

test('gives up at the timeout and says what was still missing', async () => {
  await withAdmin(() => ({ ready: false, missing: ['identity: no certificate yet', 'discovery: not connected'] }), async (port) => {
    const r = await awaitReady({ url: `http://127.0.0.1:${port}/ready`, timeoutMs: 100, intervalMs: 10 });
    assert.deepEqual(r, { ok: false, message: 'skein-proxy was not ready after 0.1s; it answered 503: not ready:; identity: no certificate yet; discovery: not connected' });
  });
});

test('says so when nothing listens on the admin port', async () => {
  const port = await closedPort();
  const r = await awaitReady({ url: `http://127.0.0.1:${port}/ready`, timeoutMs: 50, intervalMs: 10 });
  assert.deepEqual(r, { ok: false, message: 'skein-proxy was not ready after 0.05s; the admin server did not answer (ECONNREFUSED)' });
});

test('runAwait: exit 0 when ready on SKEIN_ADMIN_PORT, 2 on bad arguments', async () => {
  const lines: string[] = [];
  await withAdmin(() => ({ ready: true, missing: [] }), async (port) => {
    assert.equal(await runAwait(['--timeout=10s'], { SKEIN_ADMIN_PORT: String(port) }, (l) => lines.push(l)), 0);
  });
  assert.equal(await runAwait(['--timeout=x'], {}, (l) => lines.push(l)), 2);
  assert.match(lines[0] ?? '', /^skein-proxy is ready/);
  assert.match(lines[1] ?? '', /^skein-proxy await: --timeout: "x" is not a duration/);
});

test('runAwait: exit 1 when not ready in time', async () => {
  const port = await closedPort();
  const lines: string[] = [];
  assert.equal(await runAwait(['--timeout=100ms'], { SKEIN_ADMIN_PORT: String(port) }, (l) => lines.push(l)), 1);
  assert.match(lines[0] ?? '', /not ready after 0.1s/);
});
